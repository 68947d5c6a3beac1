package policy

import (
	_ "embed"
	"slices"
)

//go:embed starter.yaml
var starter []byte

// Starter returns the commented starter policy file that "keywarden policy
// init" writes. It equals the built-in defaults: Parse of it has the same
// Hash as Default().
func Starter() []byte { return slices.Clone(starter) }

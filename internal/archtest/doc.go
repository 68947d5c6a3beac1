// Package archtest holds only the architecture test: it checks that the
// project's packages import each other downward only, in the layers that
// DESIGN.md ("Layout") gives them, and that the CLI uses no AWS service
// client directly. It has no code of its own; nothing imports it.
package archtest

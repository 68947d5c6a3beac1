//go:build unix

package dynamo

import (
	"errors"
	"syscall"
)

// processGone reports whether no process has this ID on this host.
func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

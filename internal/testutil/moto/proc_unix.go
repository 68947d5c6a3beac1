//go:build unix && !linux

package moto

import (
	"os"
	"syscall"
)

// sysProcAttr puts moto in its own process group, so that Close can stop it
// and anything it spawned.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func kill(p *os.Process) {
	// The negative PID addresses the process group.
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}

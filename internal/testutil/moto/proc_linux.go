package moto

import (
	"os"
	"syscall"
)

// sysProcAttr puts moto in its own process group (so that Close can stop it
// and anything it spawned) and has the kernel kill it if the test binary
// dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func kill(p *os.Process) {
	// The negative PID addresses the process group.
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}

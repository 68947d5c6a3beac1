package dynamo

import (
	"os"
	"strings"
)

// hostID names the place whose processes this process can see, for the
// lock's dead-holder check: the host name and, on Linux, the kernel's boot
// ID and the PID namespace. A shared table is used from many machines,
// containers and Lambda sandboxes, some with the same host name (Lambda's,
// or containers sharing the host's UTS namespace): a holder is judged dead
// by its process ID only where that ID means the same process, in the
// same boot of the same kernel and the same PID namespace.
func hostID(host string) string {
	id := host
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		id += " boot=" + strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		id += " pidns=" + ns
	}
	return id
}

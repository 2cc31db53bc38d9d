package distri

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill an executor if the launcher dies, so
// no orphaned executors keep a job half-alive.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

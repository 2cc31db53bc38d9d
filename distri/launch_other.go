//go:build !linux

package distri

import "os/exec"

func setChildAttrs(cmd *exec.Cmd) {}

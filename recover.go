package cos

import (
	"fmt"
	"runtime"
	"strings"
)

// recoverJob turns a panic inside a job into an error that says where it
// happened, so no Go stack trace reaches a user (the CLI exits 1 with it).
func recoverJob(err *error) {
	r := recover()
	if r == nil {
		return
	}
	where := ""
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			where = fmt.Sprintf(" at %s (%s:%d)", f.Function, f.File, f.Line)
			break
		}
		if !more {
			break
		}
	}
	*err = fmt.Errorf("internal error%s: %v (this is a bug in cos; please report it with the prototxt that triggered it)", where, r)
}

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	cos "github.com/cos-project/cos"
)

// console writes Caffe's log lines with a glog-style prefix (so tools that
// parse Caffe logs read them) and, on a terminal, keeps a live progress bar
// below them. In a pipe or a file only the plain lines appear.
type console struct {
	mu      sync.Mutex
	out     io.Writer
	bar     *progressbar.ProgressBar
	tty     bool
	pid     int
	partial []byte
}

func newConsole(out io.Writer, quiet bool) *console {
	c := &console{out: out, pid: os.Getpid()}
	if f, ok := out.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		c.tty = true
	}
	return c
}

// Write takes whole or partial log lines and prefixes each complete one.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := indexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := c.partial[:i]
		if c.bar != nil {
			c.bar.Clear()
		}
		now := time.Now()
		fmt.Fprintf(c.out, "I%s %7d cos] %s\n", now.Format("0102 15:04:05.000000"), c.pid, line)
		if c.bar != nil {
			c.bar.RenderBlank()
		}
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (c *console) progress(p cos.Progress) {
	if !c.tty || p.MaxIter <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar == nil {
		c.bar = progressbar.NewOptions(p.MaxIter,
			progressbar.OptionSetWriter(c.out),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("iter"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	c.bar.Describe(fmt.Sprintf("loss %.4f lr %.3g", p.Loss, p.LR))
	c.bar.Set(p.Iter)
}

func (c *console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		c.bar.Clear()
		c.bar = nil
	}
}

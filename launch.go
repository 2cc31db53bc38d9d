package cos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"

	"github.com/cos-project/cos/distri"
)

// launchLocal runs the job on ClusterSize executor processes of this
// program on this machine, and collects rank 0's result.
func launchLocal(ctx context.Context, cfg *Config, kind jobKind, res any) error {
	// Load the definition here first, so a bad file fails once, clearly,
	// before any executor starts.
	sp, _, err := loadDefinition(cfg)
	if err != nil {
		return err
	}
	child := *cfg
	child.Log, child.Progress = nil, nil
	for _, p := range []*string{&child.Solver, &child.Model, &child.Weights, &child.Snapshot, &child.Output, &child.Curves} {
		if *p != "" && !isURL(*p) {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	cj, err := json.Marshal(child)
	if err != nil {
		return err
	}
	rf, err := os.CreateTemp("", "cos-result-*.json")
	if err != nil {
		return err
	}
	rf.Close()
	defer os.Remove(rf.Name())
	var logw io.Writer = io.Discard
	if cfg.Log != nil || cfg.Progress != nil {
		logw = &progressWriter{log: cfg.Log, progress: cfg.Progress, maxIter: int(sp.GetMaxIter())}
	}
	err = distri.LaunchLocal(ctx, distri.LocalOptions{
		N:      cfg.ClusterSize,
		Args:   os.Args[1:],
		Env:    []string{envJob + "=" + string(kind), envJobConfig + "=" + string(cj), envResultFile + "=" + rf.Name()},
		Stdout: logw,
		Stderr: os.Stderr,
	})
	if pw, ok := logw.(*progressWriter); ok {
		pw.flush()
	}
	if err != nil {
		return err
	}
	b, err := os.ReadFile(rf.Name())
	if err != nil || len(b) == 0 {
		return fmt.Errorf("executor 0 finished without a result (%v)", err)
	}
	return json.Unmarshal(b, res)
}

func isURL(p string) bool {
	for i, c := range p {
		if c == ':' {
			return i > 1
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return false
}

// progressWriter passes rank 0's log lines on and turns Caffe's display
// lines back into Progress reports for the launcher's caller.
type progressWriter struct {
	mu       sync.Mutex
	log      io.Writer
	progress func(Progress)
	maxIter  int
	partial  []byte
	lr       float64
}

var (
	iterLine = regexp.MustCompile(`Iteration (\d+) \(([\d.eE+-]+) iter/s[^)]*\), loss = ([\d.eE+-]+|nan|inf)`)
	lrLine   = regexp.MustCompile(`Iteration (\d+), lr = ([\d.eE+-]+)`)
)

func (w *progressWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i+1])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *progressWriter) line(l []byte) {
	if w.log != nil {
		w.log.Write(l)
	}
	if w.progress == nil {
		return
	}
	if m := lrLine.FindSubmatch(l); m != nil {
		w.lr, _ = strconv.ParseFloat(string(m[2]), 64)
		return
	}
	if m := iterLine.FindSubmatch(l); m != nil {
		it, _ := strconv.Atoi(string(m[1]))
		ips, _ := strconv.ParseFloat(string(m[2]), 64)
		loss, _ := strconv.ParseFloat(string(m[3]), 64)
		w.progress(Progress{Iter: it, MaxIter: w.maxIter, Loss: loss, LR: w.lr, ItersPerSec: ips})
	}
}

func (w *progressWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(append(w.partial, '\n'))
		w.partial = nil
	}
}

package distri

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalOptions configures LaunchLocal.
type LocalOptions struct {
	// N is the number of executor processes (≥ 1).
	N int
	// Args are the children's command-line arguments (without the program
	// name); usually the launcher's own arguments.
	Args []string
	// Env is added to the launcher's environment for every child.
	Env []string
	// Exe is the program to run (default: os.Executable(), this binary).
	Exe string
	// Stdout and Stderr receive the children's output. Rank 0's stdout goes
	// to Stdout unchanged (it carries Caffe's log lines and results);
	// rank 0's stderr goes to Stderr unchanged; the other ranks' stdout is
	// dropped (their solvers do not log) and their stderr goes to Stderr
	// with a "[rank k] " prefix on every line. Nil: the launcher's own
	// os.Stdout / os.Stderr, which rank 0 then inherits directly (so it
	// still sees a terminal and can draw a progress bar).
	Stdout, Stderr io.Writer
	// Grace is how long the other executors get to stop by themselves
	// after one fails (they normally notice within a second) before they
	// are killed (default 2 s).
	Grace time.Duration
}

// LaunchLocal runs a job of N executor processes on this machine: it opens
// rank 0's listening socket on a free loopback port (handed to rank 0 as an
// inherited file descriptor, so no other process can take the port),
// generates a job token, and starts N copies of Exe with COS_RANK,
// COS_WORLD_SIZE, COS_MASTER and COS_JOB_TOKEN set; the children call
// Detect and Join. It waits for all of them. When one exits with an error
// or is killed, the others are given Grace to stop and then killed, and the
// error names that executor's rank and exit status. Cancelling ctx
// terminates the children (SIGTERM, then SIGKILL after Grace).
func LaunchLocal(ctx context.Context, opts LocalOptions) error {
	if opts.N < 1 {
		return fmt.Errorf("distri: cluster size %d: need at least one executor", opts.N)
	}
	exe := opts.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("distri: locating this program to start executors: %w", err)
		}
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	token, err := NewToken()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("distri: opening rank 0's socket: %w", err)
	}
	lf, err := lis.(*net.TCPListener).File()
	lis.Close() // the duplicate in lf stays bound and listening
	if err != nil {
		return fmt.Errorf("distri: opening rank 0's socket: %w", err)
	}
	defer lf.Close()
	master := lis.Addr().String()

	base := make([]string, 0, len(os.Environ())+len(opts.Env)+8)
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case EnvRank, EnvWorldSize, EnvMaster, EnvToken, EnvTokenFile, EnvListenFD, EnvListen, EnvAdvertise, EnvRendezvousFile:
			continue // the launcher decides these
		}
		base = append(base, kv)
	}
	base = append(base, opts.Env...)

	stdout, stderr := opts.Stdout, opts.Stderr
	inherit := stdout == nil && stderr == nil
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	var errMu sync.Mutex // serializes prefixed lines from several ranks
	cmds := make([]*exec.Cmd, opts.N)
	var copyWG sync.WaitGroup
	for r := 0; r < opts.N; r++ {
		cmd := exec.Command(exe, opts.Args...)
		cmd.Env = append(append([]string{}, base...),
			EnvRank+"="+strconv.Itoa(r), EnvWorldSize+"="+strconv.Itoa(opts.N),
			EnvMaster+"="+master, EnvToken+"="+token, "COS_LOCAL=1")
		if r == 0 {
			cmd.ExtraFiles = []*os.File{lf}
			cmd.Env = append(cmd.Env, EnvListenFD+"=3")
		}
		setChildAttrs(cmd)
		if r == 0 {
			if inherit {
				cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			} else {
				cmd.Stdout, cmd.Stderr = stdout, stderr
			}
		} else {
			// A pipe of our own (not StderrPipe): cmd.Wait must not close
			// it before the last lines are copied.
			pr, pw, err := os.Pipe()
			if err != nil {
				killAll(cmds)
				return err
			}
			cmd.Stderr = pw
			defer pw.Close()
			copyWG.Add(1)
			go func(r int, rd *os.File) {
				defer copyWG.Done()
				defer rd.Close()
				prefixLines(rd, stderr, fmt.Sprintf("[rank %d] ", r), &errMu)
			}(r, pr)
		}
		if err := cmd.Start(); err != nil {
			killAll(cmds)
			return fmt.Errorf("distri: starting executor rank %d: %w", r, err)
		}
		cmds[r] = cmd
		if w, ok := cmd.Stderr.(*os.File); ok && r > 0 {
			w.Close() // the child holds its own copy
		}
	}
	lf.Close()

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, opts.N)
	for r, cmd := range cmds {
		go func() { exits <- exit{r, cmd.Wait()} }()
	}
	var first error
	var killTimer <-chan time.Time
	ctxDone := ctx.Done()
	for remaining := opts.N; remaining > 0; {
		select {
		case e := <-exits:
			remaining--
			if e.err != nil && first == nil {
				first = exitError(e.rank, cmds[e.rank], e.err)
				if remaining > 0 {
					killTimer = time.After(grace)
				}
			}
		case <-killTimer:
			killAll(cmds)
			killTimer = nil
		case <-ctxDone:
			ctxDone = nil
			for _, c := range cmds {
				c.Process.Signal(syscall.SIGTERM)
			}
			if first == nil {
				first = ctx.Err()
			}
			killTimer = time.After(grace)
		}
	}
	copyWG.Wait()
	return first
}

func exitError(rank int, cmd *exec.Cmd, err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("distri: executor rank %d (pid %d) was killed by signal %v", rank, cmd.Process.Pid, ws.Signal())
		}
		return fmt.Errorf("distri: executor rank %d (pid %d) exited with status %d", rank, cmd.Process.Pid, ee.ExitCode())
	}
	return fmt.Errorf("distri: executor rank %d: %w", rank, err)
}

func killAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		if c != nil && c.Process != nil {
			c.Process.Kill()
		}
	}
}

// prefixLines copies r to w line by line, each line prefixed.
func prefixLines(r io.Reader, w io.Writer, prefix string, mu *sync.Mutex) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !strings.HasSuffix(line, "\n") {
				line += "\n"
			}
			mu.Lock()
			io.WriteString(w, prefix+line)
			mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

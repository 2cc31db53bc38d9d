package distri

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envExecutor makes the test binary act as an executor process (started by
// LaunchLocal from a test) instead of running tests.
const envExecutor = "COS_TEST_EXECUTOR"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envExecutor); mode != "" {
		if err := runTestExecutor(mode); err != nil {
			fmt.Fprintf(os.Stderr, "executor failed: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runTestExecutor joins the job from the environment, records its pid and
// all-reduces a 1 Mi-float buffer COS_TEST_ITERS times (forever if 0).
func runTestExecutor(mode string) error {
	cfg, err := Detect(os.Getenv)
	if err != nil {
		return err
	}
	cfg.HeartbeatInterval = 200 * time.Millisecond
	c, err := Join(context.Background(), cfg)
	if err != nil {
		return err
	}
	dir := os.Getenv("COS_TEST_DIR")
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("rank%d.pid", c.Rank())), []byte(strconv.Itoa(os.Getpid())), 0o644)
	iters, _ := strconv.Atoi(os.Getenv("COS_TEST_ITERS"))
	buf := make([]float32, 1<<20)
	for i := 0; iters == 0 || i < iters; i++ {
		for j := range buf {
			buf[j] = float32(c.Rank() + j%7)
		}
		if err := c.AllReduceMean(buf); err != nil {
			c.Abort(err)
			return err
		}
	}
	if c.Rank() == 0 {
		fmt.Printf("done %d iterations, buf[1] = %v\n", iters, buf[1])
	}
	return c.Close()
}

// syncBuf is a bytes.Buffer safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type launched struct {
	dir            string
	stdout, stderr *syncBuf
	done           chan error
	start          time.Time
}

func launchTest(t *testing.T, n int, env ...string) *launched {
	t.Helper()
	l := &launched{dir: t.TempDir(), stdout: &syncBuf{}, stderr: &syncBuf{}, done: make(chan error, 1)}
	env = append(env, envExecutor+"=loop", "COS_TEST_DIR="+l.dir)
	l.start = time.Now()
	go func() {
		l.done <- LaunchLocal(context.Background(), LocalOptions{N: n, Env: env, Stdout: l.stdout, Stderr: l.stderr, Grace: 3 * time.Second})
	}()
	return l
}

// pids waits for every executor to have joined and returns their pids.
func (l *launched) pids(t *testing.T, n int) []int {
	t.Helper()
	pids := make([]int, n)
	deadline := time.Now().Add(30 * time.Second)
	for r := 0; r < n; r++ {
		for {
			b, err := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("rank%d.pid", r)))
			if err == nil && len(b) > 0 {
				pids[r], _ = strconv.Atoi(string(b))
				break
			}
			select {
			case err := <-l.done:
				t.Fatalf("job ended before rank %d joined: %v\n%s", r, err, l.stderr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("rank %d did not join", r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return pids
}

func TestLocalLaunchClean(t *testing.T) {
	l := launchTest(t, 3, "COS_TEST_ITERS=5")
	if err := <-l.done; err != nil {
		t.Fatalf("LaunchLocal: %v\nstderr:\n%s", err, l.stderr)
	}
	// (0+1+2)/3 + 1 = 2
	if got := l.stdout.String(); got != "done 5 iterations, buf[1] = 2\n" {
		t.Fatalf("stdout = %q (want only rank 0's line)", got)
	}
}

// TestKilledExecutor SIGKILLs one executor mid-run: the others must stop by
// themselves, quickly, naming it, and the launcher must fail naming it.
func TestKilledExecutor(t *testing.T) {
	const n = 3
	l := launchTest(t, n)
	pids := l.pids(t, n)
	time.Sleep(300 * time.Millisecond) // let them get into all-reduces
	killed := time.Now()
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-l.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the job did not stop within 15 s of an executor being killed")
	}
	took := time.Since(killed)
	t.Logf("job stopped %v after the kill: %v", took, err)
	if err == nil || !strings.Contains(err.Error(), "rank 1") || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("launcher error %v does not name rank 1 and the kill", err)
	}
	// The survivors stopped by themselves (the launcher's grace is 3 s)
	// and said why.
	if took > 2500*time.Millisecond {
		t.Errorf("survivors took %v to stop", took)
	}
	errs := l.stderr.String()
	for _, want := range []string{"[rank 2] executor failed: lost executor rank 1", "executor failed: lost executor rank 1"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestHungExecutor stops (SIGSTOP) one executor: heartbeats must catch it
// within the failure timeout.
func TestHungExecutor(t *testing.T) {
	const n = 3
	l := launchTest(t, n, EnvFailTimeout+"=2s")
	pids := l.pids(t, n)
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	if err := syscall.Kill(pids[2], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pids[2], syscall.SIGKILL)
	var err error
	select {
	case err = <-l.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the job did not stop within 15 s of an executor hanging")
	}
	t.Logf("job stopped %v after the hang: %v", time.Since(stopped), err)
	t.Logf("stderr:\n%s", l.stderr)
	if err == nil {
		t.Fatal("launcher reported success")
	}
	errs := l.stderr.String()
	if !strings.Contains(errs, "[rank 1] executor failed: lost executor rank 2") || !strings.Contains(errs, "no heartbeat") {
		t.Errorf("stderr does not name the hung rank 2:\n%s", errs)
	}
}

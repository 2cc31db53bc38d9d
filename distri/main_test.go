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

	"github.com/cos-project/cos/solver"
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
	if mode == "train" {
		return runTrainExecutor()
	}
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
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("rank%d.plane", c.Rank())), []byte(c.DataPlane()), 0o644)
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
	for _, plane := range []string{"shm", "ring"} {
		if plane == "shm" && !shmSupported {
			continue
		}
		t.Run(plane, func(t *testing.T) { testKilledExecutor(t, plane) })
	}
}

func testKilledExecutor(t *testing.T, plane string) {
	const n = 3
	var env []string
	if plane == "ring" {
		env = append(env, EnvShm+"=0")
	}
	l := launchTest(t, n, env...)
	pids := l.pids(t, n)
	for r := 0; r < n; r++ {
		b, _ := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("rank%d.plane", r)))
		if got := string(b); (got == "shm") != (plane == "shm") {
			t.Fatalf("rank %d all-reduces over %q, want %s", r, got, plane)
		}
	}
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

// runTrainExecutor trains the tiny test net (see train_test.go) on
// COS_TEST_DB, snapshotting every 10 iterations, resuming from
// COS_TEST_SNAPSHOT if set. Each iteration is slowed down so that a test can
// kill an executor mid-run.
func runTrainExecutor() error {
	cfg, err := Detect(os.Getenv)
	if err != nil {
		return err
	}
	sp, np, err := testDefs(os.Getenv("COS_TEST_DB"), 16)
	if err != nil {
		return err
	}
	maxIter, _ := strconv.Atoi(os.Getenv("COS_TEST_MAXITER"))
	sp.MaxIter = ptr32(int32(maxIter))
	sp.Snapshot = ptr32(10)
	prefix := os.Getenv("COS_TEST_PREFIX")
	sp.SnapshotPrefix = &prefix
	dir := os.Getenv("COS_TEST_DIR")
	job := TrainJob{Solver: sp, Net: np, Cluster: cfg, Threads: 1, Snapshot: os.Getenv("COS_TEST_SNAPSHOT"),
		Model: filepath.Join(dir, "final.caffemodel"),
		Progress: func(p solver.Progress) {
			if p.Iter == 1 || os.Getenv("COS_TEST_SLOW") != "" {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("rank%d.pid", cfg.Rank)), []byte(strconv.Itoa(os.Getpid())), 0o644)
			}
			if os.Getenv("COS_TEST_SLOW") != "" {
				time.Sleep(20 * time.Millisecond)
			}
		}}
	res, err := RunTrain(context.Background(), job)
	if err != nil {
		return err
	}
	if cfg.Rank == 0 {
		fmt.Printf("trained to iteration %d\n", res.Iter)
	}
	return nil
}

// TestKillAndResume SIGKILLs an executor of a training job: the launcher
// fails naming it, the last snapshot is intact, and a job of another size
// resumes from it to the end.
func TestKillAndResume(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	writeDB(t, db, makeImages(192))
	prefix := filepath.Join(dir, "snap", "tiny")
	l := &launched{dir: t.TempDir(), stdout: &syncBuf{}, stderr: &syncBuf{}, done: make(chan error, 1)}
	env := []string{envExecutor + "=train", "COS_TEST_DIR=" + l.dir, "COS_TEST_DB=" + db, "COS_TEST_MAXITER=400",
		"COS_TEST_PREFIX=" + prefix, "COS_TEST_SLOW=1"}
	go func() {
		l.done <- LaunchLocal(context.Background(), LocalOptions{N: 2, Env: env, Stdout: l.stdout, Stderr: l.stderr, Grace: 3 * time.Second})
	}()
	pids := l.pids(t, 2)
	// Wait for a few snapshots.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(prefix + "_iter_30.solverstate"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot at iteration 30; stderr:\n%s", l.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := time.Now()
	syscall.Kill(pids[1], syscall.SIGKILL)
	var err error
	select {
	case err = <-l.done:
	case <-time.After(15 * time.Second):
		t.Fatal("training did not stop within 15 s of an executor being killed")
	}
	t.Logf("stopped %v after the kill: %v", time.Since(killed), err)
	if err == nil || !strings.Contains(err.Error(), "rank 1") {
		t.Fatalf("launcher error %v does not name rank 1", err)
	}
	if !strings.Contains(l.stderr.String(), "lost executor rank 1") {
		t.Errorf("rank 0 did not report losing rank 1:\n%s", l.stderr)
	}
	states, _ := filepath.Glob(prefix + "_iter_*.solverstate")
	last, lastIter := "", 0
	for _, s := range states {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, prefix+"_iter_"), ".solverstate"))
		if n > lastIter {
			last, lastIter = s, n
		}
	}
	if lastIter < 30 || lastIter >= 400 {
		t.Fatalf("last snapshot at iteration %d", lastIter)
	}
	// Resume on 3 executors (another cluster size) to the end.
	l2 := &launched{dir: t.TempDir(), stdout: &syncBuf{}, stderr: &syncBuf{}, done: make(chan error, 1)}
	env2 := []string{envExecutor + "=train", "COS_TEST_DIR=" + l2.dir, "COS_TEST_DB=" + db, "COS_TEST_MAXITER=" + strconv.Itoa(lastIter+20),
		"COS_TEST_PREFIX=" + prefix, "COS_TEST_SNAPSHOT=" + last}
	if err := LaunchLocal(context.Background(), LocalOptions{N: 3, Env: env2, Stdout: l2.stdout, Stderr: l2.stderr}); err != nil {
		t.Fatalf("resume from %s: %v\n%s", last, err, l2.stderr)
	}
	if want := fmt.Sprintf("trained to iteration %d\n", lastIter+20); l2.stdout.String() != want {
		t.Fatalf("resumed run printed %q, want %q", l2.stdout.String(), want)
	}
}

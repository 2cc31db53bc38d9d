package distri

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/lmdb"
	cnet "github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/solver"
)

// A net whose ip layers have lr_mult / decay_mult other than 1, and an ip1
// large enough (HIDDEN × 36 weights) to cut over several update chunks and
// threads.
const shardNetText = `
name: "shardnet"
layer { name: "data" type: "Data" top: "data" top: "label"
  include { phase: TRAIN }
  transform_param { scale: 0.00390625 }
  data_param { source: "SOURCE" batch_size: 8 backend: LMDB } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool" top: "ip1"
  param { lr_mult: 2 decay_mult: 3 } param { lr_mult: 0.5 decay_mult: 0 }
  inner_product_param { num_output: HIDDEN weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.01 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  param { lr_mult: 1.5 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 4 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`

type shardRun struct {
	weights [][][]float32 // per rank
	files   map[string][]byte
	steps   []int  // sharded steps per rank
	homed   []bool // params in shared memory, per rank
	planes  []string
	tests   [][]solver.TestResult // per rank
}

// The update modes trainShard compares.
const (
	shardOff  = "unsharded"     // COS_SHARDED_UPDATE=0
	shardCopy = "sharded, copy" // COS_SHARDED_HOME=0: diffs stay in the process
	shardHome = "sharded, home" // the default: two ranks' diffs in shared memory
)

// shmTestDB skips the test where there is no shared-memory plane, and
// otherwise returns an LMDB of n makeImages images.
func shmTestDB(t *testing.T, n int) string {
	t.Helper()
	if !shmSupported {
		t.Skip("shared memory is Linux only")
	}
	db := filepath.Join(t.TempDir(), "db")
	writeDB(t, db, makeImages(n))
	return db
}

// shardSolver builds rank r's solver of a world-executor test job on db:
// netText (HIDDEN and SOURCE filled in) and solverText, reducing through
// red (buckets of 64 KiB, so there are several).
func shardSolver(r, world int, solverText, netText, db string, hidden, threads int, red *Reducer, progress func(solver.Progress)) (*solver.Solver, error) {
	sp, err := prototxt.ParseSolver([]byte(solverText), "solver.prototxt")
	if err != nil {
		return nil, err
	}
	text := strings.NewReplacer("SOURCE", db, "HIDDEN", fmt.Sprint(hidden)).Replace(netText)
	np, err := prototxt.ParseNet([]byte(text), "net.prototxt")
	if err != nil {
		return nil, err
	}
	opts := solver.Options{Sources: CheckedOpener(lmdb.Opener(r, world)), Rank: r, Threads: threads, Progress: progress}
	if red != nil {
		opts.Reducer = red // a nil *Reducer would be a non-nil solver.Reducer
	}
	return solver.New(sp, np, opts)
}

// trainShard trains world executors in this process on db and returns
// their weights, test results and rank 0's snapshot files. netText is
// shardNetText when empty.
func trainShard(t *testing.T, world int, solverText, netText string, hidden, threads int, db, mode string, mod func(*Config)) shardRun {
	t.Helper()
	os.Unsetenv("COS_SHARDED_UPDATE")
	os.Unsetenv("COS_SHARDED_HOME")
	switch mode {
	case shardOff:
		t.Setenv("COS_SHARDED_UPDATE", "0")
	case shardCopy:
		t.Setenv("COS_SHARDED_HOME", "0")
	}
	if netText == "" {
		netText = shardNetText
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "snap")
	cs := startLocal(t, world, mod)
	run := shardRun{weights: make([][][]float32, world), files: map[string][]byte{}, steps: make([]int, world),
		homed: make([]bool, world), planes: make([]string, world), tests: make([][]solver.TestResult, world)}
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = func() error {
				c := cs[r]
				red := c.NewReducer(64 << 10)
				defer red.Close()
				s, err := shardSolver(r, world, solverText+"\nsnapshot_prefix: \""+prefix+"\"\n", netText, db, hidden, threads, red,
					func(p solver.Progress) { run.tests[r] = append(run.tests[r], p.Test...) })
				if err != nil {
					return err
				}
				defer s.Close()
				if err := BroadcastParams(c, s); err != nil {
					return err
				}
				if err := s.Solve(context.Background()); err != nil {
					return err
				}
				run.weights[r] = weightsOf(s)
				run.steps[r] = red.sh.steps
				run.homed[r] = red.sh.homed
				run.planes[r] = c.DataPlane()
				return nil
			}()
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The .solverstate names its .caffemodel, whose directory differs
		// between runs.
		run.files[e.Name()] = bytes.ReplaceAll(b, []byte(dir), []byte("DIR"))
	}
	return run
}

func sameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d params", what, len(a), len(b))
	}
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: param %d[%d]: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

// TestShardedUpdateMatches: training with the sharded update gives, bit for
// bit, the weights and snapshots (.caffemodel with diffs, .solverstate with
// every history blob) of the unsharded update, on every executor; for SGD
// with momentum and weight decay, Adam (two history blobs) and AdaDelta,
// lr_mult / decay_mult != 1, iter_size 2, world sizes 2 and 3, one and two
// update threads, steps with and without a displayed loss (a collective
// between the reduction and the update).
func TestShardedUpdateMatches(t *testing.T) {
	db := shmTestDB(t, 96)
	const common = "max_iter: 10 random_seed: 5 snapshot: 4 snapshot_diff: true display: 3 average_loss: 2\n"
	cases := []struct {
		name          string
		solver        string
		world, hidden int
		threads       int
	}{
		{"sgd", `base_lr: 0.05 momentum: 0.9 weight_decay: 0.004 lr_policy: "inv" gamma: 0.0001 power: 0.75`, 2, 20, 1},
		{"sgd-world3-itersize2", `base_lr: 0.05 momentum: 0.9 weight_decay: 0.004 lr_policy: "fixed" iter_size: 2`, 3, 20, 1},
		{"adam-threads2", `type: "Adam" base_lr: 0.01 momentum: 0.9 momentum2: 0.999 weight_decay: 0.002 lr_policy: "fixed"`, 2, 4000, 2},
		{"adadelta-l1-world3", `type: "AdaDelta" base_lr: 1 momentum: 0.95 delta: 1e-6 weight_decay: 0.001 regularization_type: "L1" lr_policy: "fixed"`, 3, 300, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.solver + "\n" + common
			ref := trainShard(t, tc.world, text, "", tc.hidden, tc.threads, db, shardOff, nil)
			if len(ref.files) != 6 {
				t.Fatalf("unsharded run wrote %d snapshot files, want 6", len(ref.files))
			}
			for _, mode := range []string{shardCopy, shardHome} {
				got := trainShard(t, tc.world, text, "", tc.hidden, tc.threads, db, mode, nil)
				sameAsUnsharded(t, mode, ref, got, 10, mode == shardHome && tc.world == 2)
			}
		})
	}
}

// sameAsUnsharded checks a sharded run (mode) against the unsharded run
// ref of the same iters steps: every rank's weights, rank 0's snapshots
// and every rank's test results bit for bit, that the run was sharded and
// whether its diffs lived in shared memory.
func sameAsUnsharded(t *testing.T, mode string, ref, got shardRun, iters int, wantHomed bool) {
	t.Helper()
	for r := range got.weights {
		if ref.steps[r] != 0 {
			t.Fatalf("COS_SHARDED_UPDATE=0: rank %d ran %d sharded steps", r, ref.steps[r])
		}
		// The first step fixes the layout and is not sharded.
		if got.steps[r] != iters-1 {
			t.Fatalf("%s: rank %d ran %d sharded steps of %d (plane %s), want %d", mode, r, got.steps[r], iters, got.planes[r], iters-1)
		}
		if got.homed[r] != wantHomed {
			t.Fatalf("%s: rank %d diffs in shared memory: %v, want %v", mode, r, got.homed[r], wantHomed)
		}
		sameBits(t, fmt.Sprintf("%s: rank %d vs rank 0", mode, r), got.weights[r], got.weights[0])
		sameBits(t, fmt.Sprintf("%s: rank %d vs unsharded", mode, r), got.weights[r], ref.weights[r])
		if len(got.tests[r]) != len(ref.tests[r]) {
			t.Fatalf("%s: rank %d ran %d tests, unsharded %d", mode, r, len(got.tests[r]), len(ref.tests[r]))
		}
		for k, tr := range got.tests[r] {
			w := ref.tests[r][k]
			sameBits(t, fmt.Sprintf("%s: rank %d test %d (iteration %d) vs unsharded", mode, r, k, tr.Iter), tr.Values, w.Values)
		}
	}
	for name, want := range ref.files {
		if g, ok := got.files[name]; !ok || !bytes.Equal(g, want) {
			t.Errorf("%s: snapshot %s differs from the unsharded run's", mode, name)
		}
	}
}

// shardShareNetText has a TEST net (which reads the TRAIN net's weights)
// and, with SHARE replaced by the names, two layers sharing their params by
// name (the user sees the owner's weights and adds its gradient into the
// owner's Diff, which therefore must stay where it is).
const shardShareNetText = `
name: "sharenet"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.00390625 } data_param { source: "SOURCE" batch_size: 8 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { scale: 0.00390625 } data_param { source: "SOURCE" batch_size: 8 backend: LMDB } }
layer { name: "half" type: "Power" bottom: "data" top: "half" power_param { scale: 0.5 shift: 0.25 } }
layer { name: "ipa" type: "InnerProduct" bottom: "data" top: "ipa"
  SHAREA
  inner_product_param { num_output: HIDDEN weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.01 } } }
layer { name: "ipb" type: "InnerProduct" bottom: "half" top: "ipb"
  SHAREB
  inner_product_param { num_output: HIDDEN weight_filler { type: "xavier" } } }
layer { name: "sum" type: "Eltwise" bottom: "ipa" bottom: "ipb" top: "sum" }
layer { name: "relu" type: "ReLU" bottom: "sum" top: "sum" }
layer { name: "ip2" type: "InnerProduct" bottom: "sum" top: "ip2"
  inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
`

// TestShardedUpdateAliases: a TEST net follows the TRAIN net's weights,
// and params shared by name keep their diffs in the process (the user's
// Diff aliases the owner's): weights, snapshots and test results (every
// test_interval, on every executor) equal the unsharded run's bit for bit,
// on two executors (diffs in shared memory unless shared) and three (diffs
// in the process), with gradients accumulated over two passes (iter_size
// 2).
func TestShardedUpdateAliases(t *testing.T) {
	db := shmTestDB(t, 96)
	const text = `base_lr: 0.05 momentum: 0.9 weight_decay: 0.004 lr_policy: "fixed" iter_size: 2
max_iter: 9 random_seed: 5 snapshot: 4 display: 2 test_iter: 2 test_interval: 3 test_initialization: false`
	for _, world := range []int{2, 3} {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("world%d-shared%v", world, shared), func(t *testing.T) {
				a, b := "", ""
				if shared {
					a = `param { name: "w" } param { name: "b" }`
					b = a
				}
				net := strings.NewReplacer("SHAREA", a, "SHAREB", b).Replace(shardShareNetText)
				ref := trainShard(t, world, text, net, 30, 1, db, shardOff, nil)
				if len(ref.tests[0]) != 3 {
					t.Fatalf("unsharded run: %d tests, want 3", len(ref.tests[0]))
				}
				got := trainShard(t, world, text, net, 30, 1, db, shardHome, nil)
				sameAsUnsharded(t, shardHome, ref, got, 9, world == 2 && !shared)
			})
		}
	}
}

// TestShardedUpdateFallbacks: the update is not sharded with gradient
// clipping (it needs the whole gradient's norm) or on the gRPC plane, and
// training still gives the same weights on every executor.
func TestShardedUpdateFallbacks(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	writeDB(t, db, makeImages(64))
	const text = "base_lr: 0.05 momentum: 0.9 lr_policy: \"fixed\" max_iter: 4 random_seed: 5\n"
	for _, tc := range []struct {
		name, solver string
		mod          func(*Config)
	}{
		{"clip", text + "clip_gradients: 0.01\n", nil},
		{"grpc", text, func(c *Config) { c.NoShm = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := trainShard(t, 2, tc.solver, "", 20, 1, db, shardHome, tc.mod)
			for r := range run.steps {
				if run.steps[r] != 0 {
					t.Errorf("rank %d ran %d sharded steps", r, run.steps[r])
				}
				sameBits(t, fmt.Sprintf("rank %d vs rank 0", r), run.weights[r], run.weights[0])
			}
		})
	}
}

// TestShardedUpdateSlotCapacity: a gradient larger than one shared-memory
// slot is not sharded (the all-reduce cuts it into pieces of the slot's
// capacity), one that fits is.
func TestShardedUpdateSlotCapacity(t *testing.T) {
	if !shmSupported {
		t.Skip("shared memory is Linux only")
	}
	os.Unsetenv("COS_SHARDED_UPDATE")
	for _, tc := range []struct {
		n    int
		want bool
	}{{shmSlot / 4, true}, {shmSlot/4 + 1, false}} {
		cs := startLocal(t, 2, nil)
		var mu sync.Mutex
		on := make([]bool, 2)
		runAll(t, cs, func(r int, c *Cluster) error {
			red := c.NewReducer(1 << 20)
			defer red.Close()
			red.EnableShardedUpdate(true)
			ps := []*cnet.Param{{Blob: layers.NewBlob(tc.n - 10)}, {Blob: layers.NewBlob(10)}}
			red.ParamsReady(ps)
			if err := red.Wait(); err != nil {
				return err
			}
			mu.Lock()
			on[r] = red.sh.on
			mu.Unlock()
			return nil
		})
		for r := range on {
			if on[r] != tc.want {
				t.Errorf("%d values: rank %d shards %v, want %v", tc.n, r, on[r], tc.want)
			}
		}
	}
}

// TestShardedSections: the sections of all ranks tile every blob exactly.
func TestShardedSections(t *testing.T) {
	for world := 2; world <= 5; world++ {
		r := &Reducer{c: &Cluster{size: world}}
		sizes := []int{7, 1, 100, 3, 64, 1000}
		for _, n := range sizes {
			r.sh.blobs = append(r.sh.blobs, layers.NewBlob(n))
		}
		// Buckets: {7, 1}, {100}, {3, 64, 1000}.
		buckets := [][]int{{0, 1}, {2}, {3, 4, 5}}
		g := 0
		for _, bk := range buckets {
			base, nb := g, 0
			for _, i := range bk {
				nb += sizes[i]
			}
			for _, i := range bk {
				r.sh.goff = append(r.sh.goff, g)
				r.sh.base = append(r.sh.base, base)
				r.sh.nb = append(r.sh.nb, nb)
				g += sizes[i]
			}
		}
		for i, n := range sizes {
			owner := make([]int, n)
			for q := 0; q < world; q++ {
				lo, hi := r.sectionOf(q, i)
				for e := lo; e < hi; e++ {
					owner[e]++
				}
			}
			for e, k := range owner {
				if k != 1 {
					t.Fatalf("world %d blob %d element %d: owned by %d ranks", world, i, e, k)
				}
			}
		}
	}
}

// TestShardedStepAllocs: a sharded training step (solver and reducer, two
// executors) allocates nothing once running, beyond the cluster's
// background traffic.
func TestShardedStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	os.Unsetenv("COS_SHARDED_UPDATE")
	db := shmTestDB(t, 64)
	cs := startLocal(t, 2, nil)
	solvers := make([]*solver.Solver, 2)
	reds := make([]*Reducer, 2)
	runAll(t, cs, func(r int, c *Cluster) error {
		reds[r] = c.NewReducer(64 << 10)
		t.Cleanup(reds[r].Close)
		var err error
		solvers[r], err = shardSolver(r, 2, `type: "Adam" base_lr: 0.01 momentum: 0.9 momentum2: 0.999 weight_decay: 0.002 lr_policy: "fixed" max_iter: 1000 random_seed: 5`,
			shardNetText, db, 4000, 2, reds[r], nil)
		if err == nil {
			t.Cleanup(func() { solvers[r].Close() })
		}
		return err
	})
	step := func(n int) {
		runAll(t, cs, func(r int, c *Cluster) error { return solvers[r].Step(context.Background(), n) })
	}
	step(3)
	var before, after runtime.MemStats
	const steps = 20
	runtime.ReadMemStats(&before)
	step(steps)
	runtime.ReadMemStats(&after)
	if reds[0].sh.steps < steps {
		t.Fatalf("%d sharded steps, want at least %d", reds[0].sh.steps, steps)
	}
	bytesPerStep := float64(after.TotalAlloc-before.TotalAlloc) / steps
	t.Logf("%.0f bytes, %.0f allocations per step (both executors)", bytesPerStep, float64(after.Mallocs-before.Mallocs)/steps)
	if bytesPerStep > 4096 {
		t.Errorf("a sharded step allocates %.0f bytes", bytesPerStep)
	}
}

// TestShmMean2 holds the vectorised mean of two slots to the scalar form
// the ring computes, (a + b) * 0.5 rounded per operation, bit for bit, on
// lengths around the vector widths and with values whose sums round.
func TestShmMean2(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 1023, 16384 + 5} {
		o := make([]float32, n)
		other := make([]float32, n)
		want := make([]float32, n)
		for i := range o {
			o[i] = float32(math.Sin(float64(i)*0.37)) * 1e-3
			other[i] = float32(math.Cos(float64(i)*1.13)) * 3.7
			if i%5 == 0 {
				other[i] = math.Float32frombits(1) // a denormal
			}
			want[i] = (other[i] + o[i]) * 0.5
		}
		shmMean2(o, other)
		for i := range o {
			if math.Float32bits(o[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: element %d = %g, want %g", n, i, o[i], want[i])
			}
		}
	}
}

// BenchmarkShmMean2 is the two-rank sum of one update chunk (updChunkLen
// floats), against the scalar loop it replaced.
func BenchmarkShmMean2(b *testing.B) {
	const n = 1 << 14
	o, other := make([]float32, n), make([]float32, n)
	b.Run("vector", func(b *testing.B) {
		b.SetBytes(3 * 4 * n)
		for b.Loop() {
			shmMean2(o, other)
		}
	})
	b.Run("scalar", func(b *testing.B) {
		b.SetBytes(3 * 4 * n)
		for b.Loop() {
			for i := range o {
				o[i] = (o[i] + other[i]) * 0.5
			}
		}
	})
}

// TestShardedHomeReleased: the diffs that lived in shared memory are back
// in the process, unchanged, once the Reducer is closed, and the mapping
// goes whichever of Reducer and Cluster is closed first (a long-lived
// program training many times must not keep one mapping per run).
func TestShardedHomeReleased(t *testing.T) {
	os.Unsetenv("COS_SHARDED_UPDATE")
	os.Unsetenv("COS_SHARDED_HOME")
	db := shmTestDB(t, 64)
	for _, clusterFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("clusterFirst=", clusterFirst), func(t *testing.T) {
			cs := startLocal(t, 2, nil)
			reds := make([]*Reducer, 2)
			runAll(t, cs, func(r int, c *Cluster) error {
				reds[r] = c.NewReducer(64 << 10)
				s, err := shardSolver(r, 2, `base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" max_iter: 4 random_seed: 5`,
					shardNetText, db, 20, 0, reds[r], nil)
				if err != nil {
					return err
				}
				defer s.Close()
				return s.Solve(context.Background())
			})
			inMap := func(r int) int {
				mem := cs[r].shm.mem
				lo := uintptr(unsafe.Pointer(&mem[0]))
				n := 0
				for _, b := range reds[r].sh.blobs {
					if p := uintptr(unsafe.Pointer(&b.Diff[0])); p >= lo && p < lo+uintptr(len(mem)) {
						n++
					}
				}
				return n
			}
			diffs := func(r int) [][]float32 {
				var out [][]float32
				for _, b := range reds[r].sh.blobs {
					out = append(out, append([]float32(nil), b.Diff...))
				}
				return out
			}
			before := make([][][]float32, 2)
			for r, red := range reds {
				if !red.sh.homed {
					t.Fatalf("rank %d: diffs not in shared memory after training", r)
				}
				if n := inMap(r); n != len(red.sh.blobs) {
					t.Fatalf("rank %d: %d of %d diffs in the mapping", r, n, len(red.sh.blobs))
				}
				before[r] = diffs(r)
			}
			closeClusters := func() {
				runAll(t, cs, func(r int, c *Cluster) error { return c.Close() })
			}
			if clusterFirst {
				closeClusters()
			}
			for r, red := range reds {
				red.Close()
				if red.sh.homed {
					t.Fatalf("rank %d: diffs still homed after Close", r)
				}
				if !clusterFirst {
					if n := inMap(r); n != 0 {
						t.Fatalf("rank %d: %d diffs still in the mapping after Close", r, n)
					}
				}
				sameBits(t, fmt.Sprintf("rank %d diffs moved back", r), diffs(r), before[r])
			}
			if !clusterFirst {
				closeClusters()
			}
			for r, c := range cs {
				unmapped := false
				for i := 0; i < 200 && !unmapped; i++ {
					c.opMu.Lock()
					unmapped = c.shm.mem == nil
					c.opMu.Unlock()
					if !unmapped {
						time.Sleep(10 * time.Millisecond)
					}
				}
				if !unmapped {
					t.Errorf("rank %d: the shared-memory mapping is still there", r)
				}
			}
		})
	}
}

// TestBenchNoExchange: with COS_BENCH_NO_EXCHANGE=1 (the scaling bench's
// lock-step set-up) every executor trains exactly as it would alone on its
// shard, bit for bit, on both data planes; and Wait is still a barrier: it
// does not return before the other executor's Wait.
func TestBenchNoExchange(t *testing.T) {
	db := shmTestDB(t, 96)
	const text = `base_lr: 0.05 momentum: 0.9 weight_decay: 0.004 lr_policy: "fixed" max_iter: 6 random_seed: 5 display: 2`
	alone := make([][][]float32, 2)
	for r := range alone {
		s, err := shardSolver(r, 2, text, shardNetText, db, 20, 1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Solve(context.Background()); err != nil {
			t.Fatal(err)
		}
		alone[r] = weightsOf(s)
		s.Close()
	}
	t.Setenv("COS_BENCH_NO_EXCHANGE", "1")
	for _, plane := range []string{"shm", "grpc"} {
		t.Run(plane, func(t *testing.T) {
			mod := func(c *Config) { c.NoShm = plane == "grpc" }
			run := trainShard(t, 2, text, "", 20, 1, db, shardHome, mod)
			for r := range run.weights {
				if run.steps[r] != 0 || run.homed[r] {
					t.Errorf("rank %d: %d sharded steps, diffs in shared memory %v: want none", r, run.steps[r], run.homed[r])
				}
				sameBits(t, fmt.Sprintf("rank %d vs alone on its shard", r), run.weights[r], alone[r])
			}
			if slices.EqualFunc(alone[0], alone[1], slices.Equal[[]float32]) {
				t.Fatal("both shards trained to the same weights: the test cannot tell exchange from none")
			}
		})
	}
	t.Run("barrier", func(t *testing.T) {
		cs := startLocal(t, 2, nil)
		reds := []*Reducer{cs[0].NewReducer(0), cs[1].NewReducer(0)}
		t.Cleanup(func() { reds[0].Close(); reds[1].Close() })
		done := make(chan error, 1)
		go func() { done <- reds[0].Wait() }()
		select {
		case err := <-done:
			t.Fatalf("rank 0's Wait returned (%v) before rank 1 called Wait", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := reds[1].Wait(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// Command cos-bench times full training iterations of Caffe nets, like
// `caffe time`, but through cos's own solver: forward, backward and the
// solver update, on generated data (no dataset needed).
//
// For each net it builds the TRAIN net of the prototxt with its data layers
// replaced by Input layers of the same tops (filled once with random pixels
// and labels), runs warm-up iterations, then -runs runs of -iters
// iterations each, and prints one line per net and one per layer, as
// space-separated key=value pairs after cos_<net name>:
//
//	cos_lenet batch=64 impl=native/avx512 threads=2 ms_per_iter=5.12 ... allocs/iter=0.00
//	cos_lenet layer=conv1 type=Convolution fwd_ms=0.301 bwd_ms=0.402 gflop=0.111 ...
//
// (bench/run.sh's ratio lines read the cos_<net> ... ms_per_iter= form.)
//
//   - ms_per_iter: the median over runs of each run's mean (min and max too);
//   - cpu_ms/iter: the process's CPU time per iteration; on a machine shared
//     with other work it shows what a step costs when wall time cannot
//     (with T threads, ms_per_iter ≈ cpu_ms/iter / T at best);
//   - fwd_ms, bwd_ms: the layers' mean forward and backward times;
//     update_ms is the rest of an iteration (solver update, bookkeeping);
//   - gflop/iter, gflops: the gemm work of Convolution and InnerProduct
//     layers, 2·M·N·K per product (forward, weight gradient, and bottom
//     gradient where the net propagates), over the median iteration time;
//     the nominal work of the direct (im2col) form, so for layers on the
//     Winograd path, which multiply 6.25x less, it is an effective rate
//     that can exceed the machine's FMA peak;
//   - allocs/iter: heap allocations (runtime.MemStats.Mallocs) per timed
//     iteration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
	"github.com/cos-project/cos/solver"
)

// defaultNets are the two nets of issue 7, relative to the module root.
var defaultNets = []string{"testdata/lenet_train_test.prototxt", "testdata/cifar10_quick_train_test.prototxt"}

// knownBatch holds the batch sizes Caffe's examples train these nets with
// (the repo's CIFAR-10 quick prototxt uses a small Input batch for tests).
var knownBatch = map[string]int{"LeNet": 64, "CIFAR10_quick": 100}

type config struct {
	iters, warmup, runs int
	threads             int
	batch               int
	shape               []int // C,H,W override for data layers
	layers              bool
	solverType          string
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cos-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cos-bench", flag.ContinueOnError)
	nets := fs.String("net", "", "comma-separated net prototxt files (default: LeNet and CIFAR-10 quick from testdata/)")
	var c config
	fs.IntVar(&c.iters, "iters", 50, "timed training iterations per run")
	fs.IntVar(&c.warmup, "warmup", 10, "untimed iterations before the first run")
	fs.IntVar(&c.runs, "runs", 5, "timed runs; ms/iter is the median of the runs' means")
	fs.IntVar(&c.threads, "threads", 0, "threads for blas and the layers (0: GOMAXPROCS)")
	fs.IntVar(&c.batch, "batch", 0, "batch size (0: 64 for LeNet, 100 for CIFAR10_quick, else the data layer's)")
	shape := fs.String("shape", "", "C,H,W of the data blob when a Data layer does not say (default: guessed from its source)")
	fs.BoolVar(&c.layers, "layers", true, "print per-layer forward/backward times")
	fs.StringVar(&c.solverType, "solver", "SGD", "solver type (SGD, Nesterov, Adam, ...)")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.iters < 1 || c.runs < 1 || c.warmup < 0 {
		return fmt.Errorf("-iters and -runs must be >= 1, -warmup >= 0")
	}
	if *shape != "" {
		for _, f := range strings.Split(*shape, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v <= 0 {
				return fmt.Errorf("-shape %q: want three positive integers C,H,W", *shape)
			}
			c.shape = append(c.shape, v)
		}
		if len(c.shape) != 3 {
			return fmt.Errorf("-shape %q: want C,H,W", *shape)
		}
	}
	paths := defaultNets
	if *nets != "" {
		paths = strings.Split(*nets, ",")
	} else {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		paths = nil
		for _, p := range defaultNets {
			paths = append(paths, filepath.Join(root, p))
		}
	}
	if c.threads > 0 {
		runtime.GOMAXPROCS(c.threads)
	}
	blas.SetThreads(c.threads)
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(out, "# cos-bench impl=%s threads=%d gomaxprocs=%d cpus=%d go=%s load=%s\n",
		blas.Impl(), blas.Threads(), runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), loadAvg())
	for _, p := range paths {
		if err := benchNet(strings.TrimSpace(p), c, out); err != nil {
			return err
		}
	}
	return nil
}

// moduleRoot finds the directory holding testdata/ (the module root) from
// the working directory upward, so `go run ./cmd/cos-bench` works from
// anywhere in the tree.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, defaultNets[0])); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("cannot find %s above %s; pass -net", defaultNets[0], dir)
		}
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], ",")
}

// shortName is the net's name as the first field of its output lines:
// cos_ and the lower-cased name.
func shortName(name string) string {
	return "cos_" + netKey(name)
}

func netKey(name string) string {
	s := strings.ToLower(name)
	s = strings.TrimSuffix(s, "_quick")
	if s == "cifar10" {
		return "cifar10_quick"
	}
	if s == "" {
		return "net"
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '=' {
			return '_'
		}
		return r
	}, s)
}

func benchNet(path string, c config, out io.Writer) error {
	np, err := prototxt.LoadNet(path)
	if err != nil {
		return err
	}
	train, inputs, err := benchParam(np, c)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sp := &caffepb.SolverParameter{
		Type:        proto.String(c.solverType),
		BaseLr:      proto.Float32(0.01),
		Momentum:    proto.Float32(0.9),
		WeightDecay: proto.Float32(0.0005),
		LrPolicy:    proto.String("inv"),
		Gamma:       proto.Float32(0.0001),
		Power:       proto.Float32(0.75),
		MaxIter:     proto.Int32(1 << 30),
		RandomSeed:  proto.Int64(1),
	}
	switch c.solverType {
	case "AdaGrad", "RMSProp":
		sp.Momentum = nil
	}
	s, err := solver.New(sp, train, solver.Options{Threads: c.threads})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer s.Close()
	n := s.Net()
	if err := fillInputs(n, inputs, classesOf(train)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ctx := context.Background()
	if err := s.Step(ctx, c.warmup); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n.EnableTimings(true)
	n.ResetTimings()
	perRun := make([]float64, c.runs)
	var ms0, ms1 runtime.MemStats
	// No runtime.GC() here: a collection empties the runtime's caches
	// (goroutine wait records, sync.Pools), whose refill would then be
	// counted as the step's allocations.
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	for r := range perRun {
		t0 := time.Now()
		if err := s.Step(ctx, c.iters); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		perRun[r] = float64(time.Since(t0).Microseconds()) / 1e3 / float64(c.iters)
	}
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	total := c.runs * c.iters
	cpuMS := float64(cpu1-cpu0) / 1e6 / float64(total)
	var sum float64
	for _, v := range perRun {
		sum += v
	}
	mean := sum / float64(len(perRun))
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(total)
	sorted := slices.Clone(perRun)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}

	tm := n.Timings()
	flops := layerFlops(n)
	var fwd, bwd, gflop float64
	for i, t := range tm {
		fwd += ms(t.Forward, total)
		bwd += ms(t.Backward, total)
		gflop += (flops[i][0] + flops[i][1]) / 1e9
	}
	name := shortName(n.Name())
	batch := 0
	if len(inputs) > 0 {
		batch = inputs[0].shape[0]
	}
	fmt.Fprintf(out, "%s batch=%d impl=%s threads=%d iters=%d runs=%d ms_per_iter=%.3f min=%.3f max=%.3f cpu_ms/iter=%.3f fwd_ms=%.3f bwd_ms=%.3f update_ms=%.3f gflop/iter=%.4f gflops=%.1f allocs/iter=%.2f load=%s\n",
		name, batch, blas.Impl(), blas.Threads(), c.iters, c.runs, med, sorted[0], sorted[len(sorted)-1], cpuMS,
		fwd, bwd, max(0, mean-fwd-bwd), gflop, gflop/(med/1e3), allocs, loadAvg())
	if c.layers {
		for i, t := range tm {
			f, b := ms(t.Forward, total), ms(t.Backward, total)
			line := fmt.Sprintf("%s layer=%s type=%s fwd_ms=%.4f bwd_ms=%.4f", name, t.Name, t.Type, f, b)
			if fl := flops[i]; fl[0] > 0 {
				line += fmt.Sprintf(" gflop=%.4f fwd_gflops=%.1f bwd_gflops=%.1f", (fl[0]+fl[1])/1e9, rate(fl[0], f), rate(fl[1], b))
			}
			fmt.Fprintln(out, line)
		}
	}
	return nil
}

func ms(d time.Duration, calls int) float64 {
	return float64(d.Nanoseconds()) / 1e6 / float64(calls)
}

func rate(flop, ms float64) float64 {
	if ms <= 0 {
		return 0
	}
	return flop / 1e9 / (ms / 1e3)
}

// layerFlops returns, per layer, the forward and backward gemm FLOPs of
// Convolution and InnerProduct layers: forward 2·(top count)·(weights per
// output); backward the weight gradient (same) plus the bottom gradient
// (same again) when the net propagates to the bottom.
func layerFlops(n *net.Net) [][2]float64 {
	out := make([][2]float64, n.NumLayers())
	for i, l := range n.Layers() {
		var outputs int
		switch l.Type() {
		case "Convolution":
			outputs = int(n.LayerParam(i).GetConvolutionParam().GetNumOutput())
		case "InnerProduct":
			outputs = int(n.LayerParam(i).GetInnerProductParam().GetNumOutput())
		default:
			continue
		}
		ps := l.Params()
		if len(ps) == 0 || outputs == 0 {
			continue
		}
		perOut := float64(ps[0].Count()) / float64(outputs)
		var fwd float64
		for _, t := range n.TopBlobs(i) {
			fwd += 2 * float64(t.Count()) * perOut
		}
		out[i][0] = fwd
		if !n.LayerNeedsBackward(i) {
			continue
		}
		bwd := fwd // weight gradient
		if bn := n.BottomNeedsBackward(i); len(bn) > 0 && bn[0] {
			bwd += fwd
		}
		out[i][1] = bwd
	}
	return out
}

// inputSpec is one top of a replaced data layer.
type inputSpec struct {
	top   string
	shape []int
	label bool
}

var dataTypes = map[string]bool{
	"Data": true, "Input": true, "MemoryData": true, "DummyData": true,
	"ImageData": true, "HDF5Data": true, "WindowData": true,
}

// benchParam filters np for TRAIN and replaces its data layers by Input
// layers of the same tops with the benchmark's batch size.
func benchParam(np *caffepb.NetParameter, c config) (*caffepb.NetParameter, []inputSpec, error) {
	state := &caffepb.NetState{Phase: caffepb.Phase_TRAIN.Enum()}
	proto.Merge(state, np.GetState())
	state.Phase = caffepb.Phase_TRAIN.Enum()
	f := prototxt.FilterNet(np, state)
	var specs []inputSpec
	for i, lp := range f.Layer {
		if !dataTypes[lp.GetType()] {
			continue
		}
		batch, chw, err := dataShape(np.GetName(), lp, c)
		if err != nil {
			return nil, nil, err
		}
		in := &caffepb.LayerParameter{Name: lp.Name, Type: proto.String("Input"), Top: lp.Top,
			InputParam: &caffepb.InputParameter{}}
		for j, t := range lp.Top {
			shape := []int{batch}
			if j == 0 {
				shape = append(shape, chw...)
			}
			dims := make([]int64, len(shape))
			for k, d := range shape {
				dims[k] = int64(d)
			}
			in.InputParam.Shape = append(in.InputParam.Shape, &caffepb.BlobShape{Dim: dims})
			specs = append(specs, inputSpec{top: t, shape: shape, label: j > 0})
		}
		f.Layer[i] = in
	}
	if len(specs) == 0 {
		return nil, nil, fmt.Errorf("net %q has no data layer to replace", np.GetName())
	}
	return f, specs, nil
}

// dataShape decides the batch size and item shape of a data layer.
func dataShape(netName string, lp *caffepb.LayerParameter, c config) (int, []int, error) {
	batch := c.batch
	if batch == 0 {
		batch = knownBatch[netName]
	}
	var chw []int
	switch lp.GetType() {
	case "Input":
		if s := lp.GetInputParam().GetShape(); len(s) > 0 && len(s[0].GetDim()) >= 2 {
			for _, d := range s[0].GetDim()[1:] {
				chw = append(chw, int(d))
			}
			if batch == 0 {
				batch = int(s[0].GetDim()[0])
			}
		}
	case "DummyData":
		if s := lp.GetDummyDataParam().GetShape(); len(s) > 0 && len(s[0].GetDim()) >= 2 {
			for _, d := range s[0].GetDim()[1:] {
				chw = append(chw, int(d))
			}
			if batch == 0 {
				batch = int(s[0].GetDim()[0])
			}
		}
	case "MemoryData":
		mp := lp.GetMemoryDataParam()
		chw = []int{int(mp.GetChannels()), int(mp.GetHeight()), int(mp.GetWidth())}
		if batch == 0 {
			batch = int(mp.GetBatchSize())
		}
	default:
		if batch == 0 {
			batch = int(lp.GetDataParam().GetBatchSize())
		}
		src := strings.ToLower(lp.GetDataParam().GetSource())
		switch {
		case strings.Contains(src, "mnist"):
			chw = []int{1, 28, 28}
		case strings.Contains(src, "cifar"):
			chw = []int{3, 32, 32}
		}
		if cs := lp.GetTransformParam().GetCropSize(); cs > 0 && len(chw) == 3 {
			chw[1], chw[2] = int(cs), int(cs)
		}
	}
	if c.shape != nil {
		chw = c.shape
	}
	if len(chw) == 0 {
		return 0, nil, fmt.Errorf("layer %q (%s): cannot tell the data shape; pass -shape C,H,W", lp.GetName(), lp.GetType())
	}
	if batch <= 0 {
		return 0, nil, fmt.Errorf("layer %q (%s): cannot tell the batch size; pass -batch", lp.GetName(), lp.GetType())
	}
	return batch, chw, nil
}

// classesOf is the label range: num_output of the last InnerProduct (the
// classifier), else 10.
func classesOf(np *caffepb.NetParameter) int {
	classes := 10
	for _, lp := range np.Layer {
		if lp.GetType() == "InnerProduct" {
			classes = int(lp.GetInnerProductParam().GetNumOutput())
		}
	}
	return max(classes, 1)
}

// fillInputs writes uniform [0,1) pixels and integer labels, once: the
// solver never changes Input blobs, so every iteration sees the same batch.
func fillInputs(n *net.Net, specs []inputSpec, classes int) error {
	rng := rand.New(rand.NewSource(7))
	for _, s := range specs {
		b := n.BlobByName(s.top)
		if b == nil {
			return fmt.Errorf("no blob %q in the built net", s.top)
		}
		for i := range b.Data[:b.Count()] {
			if s.label {
				b.Data[i] = float32(rng.Intn(classes))
			} else {
				b.Data[i] = rng.Float32()
			}
		}
	}
	return nil
}

// processCPU is the user+system CPU time of the process so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

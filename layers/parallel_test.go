package layers

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// buildThreaded constructs a layer with Context.Threads = threads.
func buildThreaded(tb testing.TB, text string, threads int) Layer {
	tb.Helper()
	lp := &caffepb.LayerParameter{}
	if err := prototext.Unmarshal([]byte(text), lp); err != nil {
		tb.Fatalf("parse %q: %v", text, err)
	}
	ctor, err := Lookup(lp.GetType())
	if err != nil {
		tb.Fatal(err)
	}
	l, err := ctor(lp, &Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(7)), Threads: threads})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// withProcs runs f with GOMAXPROCS = n, so the parallel paths run with
// several participants even on a small machine.
func withProcs(n int, f func()) {
	prev := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(prev)
	f()
}

// runLayerOnce runs Setup, Forward and Backward (top diff = topDiff) on
// fresh copies of bottom and returns the top data, the bottom diffs and
// the param diffs, all flattened.
func runLayerOnce(tb testing.TB, text string, threads int, bottom []*Blob, topDiffSeed int64, nTop int) (tops, bdiffs, pdiffs [][]float32) {
	tb.Helper()
	l := buildThreaded(tb, text, threads)
	bs := make([]*Blob, len(bottom))
	for i, b := range bottom {
		bs[i] = NewBlob(b.Shape()...)
		copy(bs[i].Data, b.Data)
		for j := range bs[i].Diff {
			bs[i].Diff[j] = float32(math.NaN()) // Backward must write, not add
		}
	}
	top := make([]*Blob, nTop)
	for i := range top {
		top[i] = &Blob{}
	}
	if err := l.Setup(bs, top); err != nil {
		tb.Fatal(err)
	}
	for _, p := range l.Params() {
		for j := range p.Diff {
			p.Diff[j] = 0.5 // param diffs accumulate onto what is there
		}
	}
	// Forward twice: the second must not depend on leftovers of the first.
	for k := 0; k < 2; k++ {
		if err := l.Forward(bs, top); err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(topDiffSeed))
	for _, t := range top {
		for j := range t.Diff {
			t.Diff[j] = float32(rng.NormFloat64())
		}
		tops = append(tops, append([]float32(nil), t.Data...))
	}
	pd := make([]bool, len(bs))
	for i := range pd {
		pd[i] = true
	}
	l.Backward(top, pd, bs)
	for _, b := range bs {
		bdiffs = append(bdiffs, append([]float32(nil), b.Diff...))
	}
	for _, p := range l.Params() {
		pdiffs = append(pdiffs, append([]float32(nil), p.Diff...))
	}
	return tops, bdiffs, pdiffs
}

func sameBits(a, b [][]float32) (int, int, bool) {
	if len(a) != len(b) {
		return -1, -1, false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return i, -1, false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return i, j, false
			}
		}
	}
	return 0, 0, true
}

// The batch-parallel paths (convolution, pooling, ReLU) must give results
// bit-identical to the single-threaded run, whatever the thread count:
// outputs are per image and the gradient partial sums are reduced in a
// fixed order. Shapes are big enough to take the parallel paths.
func TestParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	cases := []struct {
		name   string
		text   string
		bottom []*Blob
		tops   int
	}{
		{"conv lenet2", `name: "c" type: "Convolution" convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } bias_filler { type: "gaussian" } }`,
			[]*Blob{randBlob(rng, "x", 13, 20, 12, 12)}, 1},
		{"conv pad stride group", `name: "c" type: "Convolution" convolution_param { num_output: 12 kernel_size: 3 pad: 1 stride: 2 group: 3 weight_filler { type: "xavier" } bias_filler { type: "gaussian" } }`,
			[]*Blob{randBlob(rng, "x", 9, 6, 11, 13)}, 1},
		{"conv 1x1 two bottoms", `name: "c" type: "Convolution" convolution_param { num_output: 5 kernel_size: 1 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 7, 4, 6, 6), randBlob(rng, "y", 7, 4, 6, 6)}, 2},
		{"conv dilated", `name: "c" type: "Convolution" convolution_param { num_output: 4 kernel_size: 3 dilation: 2 pad: 2 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 5, 3, 9, 9)}, 1},
		{"max pool 2x2", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`,
			[]*Blob{randBlob(rng, "x", 16, 20, 25, 24)}, 2},
		{"max pool 3x3 s2", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }`,
			[]*Blob{randBlob(rng, "x", 16, 20, 17, 16)}, 1},
		{"ave pool pad", `name: "p" type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }`,
			[]*Blob{randBlob(rng, "x", 16, 20, 16, 15)}, 1},
		{"ip lenet1", `name: "i" type: "InnerProduct" inner_product_param { num_output: 500 weight_filler { type: "xavier" } bias_filler { type: "gaussian" } }`,
			[]*Blob{randBlob(rng, "x", 64, 50, 4, 4)}, 1},
		{"ip odd tall", `name: "i" type: "InnerProduct" inner_product_param { num_output: 7 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 301, 3, 11, 13)}, 1},
		{"ip transpose odd", `name: "i" type: "InnerProduct" inner_product_param { num_output: 133 transpose: true weight_filler { type: "xavier" } bias_filler { type: "gaussian" } }`,
			[]*Blob{randBlob(rng, "x", 37, 211)}, 1},
		{"relu", `name: "r" type: "ReLU" relu_param { negative_slope: 0.1 }`,
			[]*Blob{randBlob(rng, "x", 7, 3, 61, 61)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t1, b1, p1 := runLayerOnce(t, c.text, 1, c.bottom, 11, c.tops)
			for _, procs := range []int{2, 3, 4} {
				var tn, bn, pn [][]float32
				withProcs(procs, func() { tn, bn, pn = runLayerOnce(t, c.text, procs, c.bottom, 11, c.tops) })
				for what, pair := range map[string][2][][]float32{"top": {t1, tn}, "bottom diff": {b1, bn}, "param diff": {p1, pn}} {
					if i, j, ok := sameBits(pair[0], pair[1]); !ok {
						t.Errorf("%d threads: %s %d differs at %d", procs, what, i, j)
					}
				}
			}
		})
	}
}

// The fast im2col/col2im must match blas's reference ones on every
// geometry, including padding larger than the kernel reach, strides,
// dilation and windows that miss the image entirely.
func TestIm2colMatchesBlas(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	n, s1 := 0, 0
	for _, c := range []int{1, 3} {
		for _, hw := range [][2]int{{5, 7}, {12, 12}, {1, 4}, {16, 16}, {28, 28}} {
			for _, k := range [][2]int{{1, 1}, {3, 2}, {5, 5}} {
				for _, pad := range [][2]int{{0, 0}, {1, 2}, {3, 4}} {
					for _, st := range [][2]int{{1, 1}, {2, 3}} {
						for _, dil := range [][2]int{{1, 1}, {2, 1}} {
							g := blas.ConvGeom{Channels: c, Height: hw[0], Width: hw[1], KernelH: k[0], KernelW: k[1],
								PadH: pad[0], PadW: pad[1], StrideH: st[0], StrideW: st[1], DilationH: dil[0], DilationW: dil[1]}
							if g.OutH() <= 0 || g.OutW() <= 0 {
								continue
							}
							n++
							name := fmt.Sprintf("%+v", g)
							img := make([]float32, c*hw[0]*hw[1])
							for i := range img {
								img[i] = float32(rng.NormFloat64())
							}
							want := make([]float32, g.ColSize())
							got := make([]float32, g.ColSize())
							for i := range got {
								got[i] = float32(math.NaN())
							}
							blas.Im2col(g, img, want)
							im2colFast(&g, img, got, g.OutH()*g.OutW())
							if i, j, ok := sameBits([][]float32{want}, [][]float32{got}); !ok {
								t.Fatalf("im2col %s: differs at %d,%d", name, i, j)
							}
							for i := range got {
								got[i] = float32(rng.NormFloat64())
							}
							wantImg := make([]float32, len(img))
							gotImg := make([]float32, len(img))
							for i := range gotImg {
								gotImg[i] = float32(math.NaN())
							}
							blas.Col2im(g, got, wantImg)
							col2imFast(&g, got, gotImg)
							for i := range wantImg {
								if d := math.Abs(float64(wantImg[i] - gotImg[i])); d > 1e-5 {
									t.Fatalf("col2im %s: element %d = %g, want %g", name, i, gotImg[i], wantImg[i])
								}
							}
							if !isUnitStride(&g) {
								continue
							}
							// The unit-stride forms, twice with one pad
							// buffer: col2imS1 must leave its border zero
							// for the next im2colS1.
							pad := make([]float32, paddedSize(&g))
							for rep := 0; rep < 2; rep++ {
								col2imS1(&g, got, gotImg, pad)
								for i := range wantImg {
									if d := math.Abs(float64(wantImg[i] - gotImg[i])); d > 1e-5 {
										t.Fatalf("col2imS1 %s rep %d: element %d = %g, want %g", name, rep, i, gotImg[i], wantImg[i])
									}
								}
								col := make([]float32, g.ColSize())
								im2colS1(&g, img, col, pad, g.OutH()*g.OutW())
								if i, j, ok := sameBits([][]float32{want}, [][]float32{col}); !ok {
									t.Fatalf("im2colS1 %s rep %d: differs at %d,%d", name, rep, i, j)
								}
								s1++
							}
						}
					}
				}
			}
		}
	}
	if n < 100 || s1 < 40 {
		t.Fatalf("only %d geometries tested (%d unit-stride runs)", n, s1)
	}
}

// A late or spuriously woken worker must never run tasks of a region it
// is not part of, and regions with fewer parts than workers must work.
func TestRunParallelRegions(t *testing.T) {
	withProcs(4, func() {
		for round := 0; round < 200; round++ {
			parts := 1 + round%4
			ntask := 1 + round%13
			j := &countJob{hits: make([]int, ntask), parts: parts}
			runParallel(j, parts, ntask)
			for i, h := range j.hits {
				if h != 1 {
					t.Fatalf("round %d: task %d ran %d times", round, i, h)
				}
			}
			if j.badSlot {
				t.Fatalf("round %d: a slot >= %d ran a task", round, parts)
			}
		}
	})
}

// A task that panics on a pool goroutine must not kill the process: the
// panic reaches runParallel's caller, and the pool keeps working.
func TestRunParallelPanic(t *testing.T) {
	withProcs(2, func() {
		for _, bad := range []int{0, 5} { // the caller's first task, and one a worker may run
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("task %d: recovered %v, want boom", bad, r)
					}
				}()
				runParallel(&panicJob{bad: bad}, 2, 8)
				t.Errorf("task %d: no panic", bad)
			}()
		}
		j := &countJob{hits: make([]int, 6), parts: 2}
		runParallel(j, 2, 6)
		for i, h := range j.hits {
			if h != 1 {
				t.Fatalf("after a panic: task %d ran %d times", i, h)
			}
		}
	})
}

type panicJob struct{ bad int }

func (j *panicJob) runTask(_, t int) {
	if t == j.bad {
		panic("boom")
	}
}

type countJob struct {
	hits    []int
	parts   int
	badSlot bool
}

func (j *countJob) runTask(slot, t int) {
	j.hits[t]++ // each task is claimed once, so no two goroutines share an index
	if slot >= j.parts {
		j.badSlot = true
	}
}

// Benchmarks of the batch-parallel layers on LeNet's and CIFAR-10 quick's
// shapes (Forward+Backward), for `go test -bench Layers ./layers/`.
func BenchmarkLayers(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name, text string
		shape      []int
	}{
		{"lenet/conv1", `name: "c" type: "Convolution" convolution_param { num_output: 20 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 1, 28, 28}},
		{"lenet/conv2", `name: "c" type: "Convolution" convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 20, 12, 12}},
		{"lenet/pool1", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`, []int{64, 20, 24, 24}},
		{"cifar/conv2", `name: "c" type: "Convolution" convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 16, 16}},
		{"cifar/pool1", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }`, []int{100, 32, 32, 32}},
		{"cifar/pool2", `name: "p" type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 }`, []int{100, 32, 16, 16}},
		{"cifar/relu1", `name: "r" type: "ReLU"`, []int{100, 32, 16, 16}},
	} {
		for _, threads := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/threads=%d", c.name, threads), func(b *testing.B) {
				if threads == 1 {
					// Really one thread: blas too.
					prev := blas.Threads()
					blas.SetThreads(1)
					defer blas.SetThreads(prev)
				}
				l := buildThreaded(b, c.text, threads)
				x := randBlob(rng, "x", c.shape...)
				top := &Blob{}
				if err := l.Setup([]*Blob{x}, []*Blob{top}); err != nil {
					b.Fatal(err)
				}
				for i := range top.Diff {
					top.Diff[i] = float32(rng.NormFloat64())
				}
				pd := []bool{true}
				// Process CPU time per op as well as wall time: on a shared
				// machine the wall time mostly measures the neighbours.
				cpu0 := processCPU()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := l.Forward([]*Blob{x}, []*Blob{top}); err != nil {
						b.Fatal(err)
					}
					l.Backward([]*Blob{top}, pd, []*Blob{x})
				}
				b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// processCPU is the user+system CPU time of the process so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// The spinner stops at its limit, stops (and turns spinning off for a
// while) when it finds it was descheduled, and does not start while
// spinning is off.
func TestSpinnerBacksOff(t *testing.T) {
	defer noSpinUntil.Store(0)
	// (Whether a spin gets descheduled depends on the machine's load, so
	// only the limit is checked on an undisturbed spin.)
	noSpinUntil.Store(0)
	var sp spinner
	for sp.keepSpinning(time.Millisecond) {
		if time.Since(sp.start) > time.Second {
			t.Fatal("spinner ran past its limit")
		}
	}
	var zero spinner
	if zero.keepSpinning(0) {
		t.Fatal("spinner with a zero limit spun")
	}
	sp = spinner{}
	sp.keepSpinning(time.Second)
	sp.last = sp.last.Add(-2 * spinPreempted) // as if descheduled since
	if sp.keepSpinning(time.Second) {
		t.Fatal("spinner went on after a gap")
	}
	if noSpinUntil.Load() <= time.Now().UnixNano() {
		t.Fatal("a gap did not turn spinning off")
	}
	var next spinner
	if next.keepSpinning(time.Second) {
		t.Fatal("spinner spun while spinning was off")
	}
}

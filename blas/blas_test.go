package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the float64 triple loop every kernel is held against.
func naiveGemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	m, n, k     int
	tA, tB      bool
	alpha, beta float32
	pad         int // extra leading-dimension stride
}

func gemmCases() []gemmCase {
	shapes := [][3]int{
		{1, 1, 1}, {7, 13, 5}, {64, 10, 500}, {17, 33, 129}, {20, 576, 25}, {20, 25, 576},
		{25, 576, 20}, {50, 64, 500}, {50, 500, 64}, {500, 64, 50}, {64, 500, 80}, {10, 50, 64},
		{12, 32, 1}, {24, 64, 300}, {13, 31, 0}, {3, 100, 70}, {100, 3, 70}, {37, 65, 257},
	}
	var cs []gemmCase
	for si, s := range shapes {
		for t := 0; t < 4; t++ {
			ab := [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {1, 1}}[(si+t)%4]
			cs = append(cs, gemmCase{m: s[0], n: s[1], k: s[2], tA: t&1 != 0, tB: t&2 != 0,
				alpha: ab[0], beta: ab[1], pad: (si * 3) % 5})
		}
	}
	return cs
}

// checkGemm runs one case through f and compares with the naive result,
// with C pre-filled with NaN when beta == 0 (it must be overwritten).
func checkGemmCase(t *testing.T, name string, cs gemmCase, f func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(cs.m*1000+cs.n), uint64(cs.k)))
	ar, ac := cs.m, cs.k
	if cs.tA {
		ar, ac = cs.k, cs.m
	}
	br, bc := cs.k, cs.n
	if cs.tB {
		br, bc = cs.n, cs.k
	}
	lda, ldb, ldc := ac+cs.pad, bc+cs.pad, cs.n+cs.pad
	a := randSlice(r, max(1, ar*lda))
	b := randSlice(r, max(1, br*ldb))
	c := randSlice(r, cs.m*ldc)
	if cs.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want := naiveGemm(cs.tA, cs.tB, cs.m, cs.n, cs.k, cs.alpha, a, lda, b, ldb, cs.beta, c, ldc)
	orig := append([]float32(nil), c...)
	f(cs.tA, cs.tB, cs.m, cs.n, cs.k, cs.alpha, a, lda, b, ldb, cs.beta, c, ldc)
	tol := 1e-6 * float64(cs.k+4) * 4
	for i := 0; i < cs.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= cs.n {
				if got != orig[i*ldc+j] && !(math.IsNaN(float64(got)) && math.IsNaN(float64(orig[i*ldc+j]))) {
					t.Fatalf("%s %+v: wrote outside C at (%d,%d)", name, cs, i, j)
				}
				continue
			}
			w := want[i*cs.n+j]
			if d := math.Abs(float64(got) - w); !(d <= tol*(1+math.Abs(w))) {
				t.Fatalf("%s %+v: C[%d,%d] = %v, want %v", name, cs, i, j, got, w)
			}
		}
	}
}

// testSets returns every kernel set this CPU runs, plus copies with tiny
// cache blocks and forced pack/direct modes so that small shapes walk every
// branch of the blocked driver.
func testSets() []*kernelSet {
	var out []*kernelSet
	for _, ks := range kernelSets {
		out = append(out, ks)
		for _, mode := range []int{modePack, modeDirect} {
			c := *ks
			c.kc, c.mc, c.nc = 32, 2*ks.mr, 2*ks.nr
			c.mode = mode
			c.name = fmt.Sprintf("%s/small-blocks/mode%d", ks.name, mode)
			out = append(out, &c)
		}
	}
	return out
}

func TestSgemmKernelsMatchNaive(t *testing.T) {
	defer SetThreads(Threads())
	for _, ks := range testSets() {
		for _, th := range []int{1, 2} {
			if raceEnabled && th == 1 {
				continue
			}
			SetThreads(th)
			name := fmt.Sprintf("%s/threads=%d", ks.name, th)
			for _, cs := range gemmCases() {
				checkGemmCase(t, name, cs, func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					nativeSgemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				})
			}
		}
	}
}

func TestSgemmReference(t *testing.T) {
	for _, cs := range gemmCases() {
		checkGemmCase(t, "ref", cs, refSgemm)
	}
}

// TestSgemmLargeParallel covers the default blocking (K beyond kc, M beyond
// mc) and the parallel split on a shape big enough to use the pool.
func TestSgemmLargeParallel(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	for _, ks := range kernelSets {
		if ks.name == "go" && testing.Short() {
			continue
		}
		for _, cs := range []gemmCase{
			{m: 260, n: 70, k: 300, alpha: 1, beta: 0},
			{m: 70, n: 300, k: 270, tA: true, alpha: 1, beta: 0.5, pad: 3},
			{m: 130, n: 90, k: 520, tB: true, alpha: 2, beta: 0},
			{m: 90, n: 130, k: 260, tA: true, tB: true, alpha: 1, beta: 1},
			{m: 9, n: 13, k: 2100, tB: true, alpha: 1, beta: 0.5, pad: 1}, // dot path, K in chunks
		} {
			checkGemmCase(t, ks.name, cs, func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				nativeSgemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			})
		}
	}
}

// TestSgemmConcurrentCallers: callers that find the pool busy fall back to
// serial on their own scratch; run under -race.
func TestSgemmConcurrentCallers(t *testing.T) {
	done := make(chan struct{})
	for w := 0; w < 3; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, cs := range []gemmCase{{m: 64, n: 100, k: 40, alpha: 1}, {m: 33, n: 47, k: 90, tB: true, alpha: 1, beta: 1}} {
				checkGemmCase(t, "concurrent", cs, Sgemm)
			}
		}()
	}
	for w := 0; w < 3; w++ {
		<-done
	}
}

func TestGemmContiguous(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		m, n, k := 9, 11, 13
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		c := make([]float32, m*n)
		Gemm(tr[0], tr[1], m, n, k, 1, a, b, 0, c)
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		want := naiveGemm(tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 0, c, n)
		for i := range c {
			if math.Abs(float64(c[i])-want[i]) > 1e-4 {
				t.Fatalf("Gemm %v: c[%d]=%v want %v", tr, i, c[i], want[i])
			}
		}
	}
}

func TestLevel1AndGemv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sets := append([]*kernelSet(nil), kernelSets...)
	for _, ks := range sets {
		for _, n := range []int{0, 1, 7, 16, 31, 64, 65, 200, 1000} {
			x, y := randSlice(r, n+3), randSlice(r, n+3)
			// Dot
			var want float64
			for i := 0; i < n; i++ {
				want += float64(x[i]) * float64(y[i])
			}
			if got := nativeDot(ks, x[:n], y[:n]); math.Abs(float64(got)-want) > 1e-5*float64(n+1) {
				t.Fatalf("%s dot n=%d: %v want %v", ks.name, n, got, want)
			}
			// Axpy, leaving y[n:] alone
			y2 := append([]float32(nil), y...)
			nativeAxpy(ks, 0.75, x[:n], y2[:n])
			for i := range y2 {
				w := y[i]
				if i < n {
					w = y[i] + 0.75*x[i]
				}
				if math.Abs(float64(y2[i]-w)) > 1e-6 {
					t.Fatalf("%s axpy n=%d: y[%d]=%v want %v", ks.name, n, i, y2[i], w)
				}
			}
			// Scal
			x2 := append([]float32(nil), x...)
			nativeScal(ks, -1.5, x2[:n])
			for i := range x2 {
				w := x[i]
				if i < n {
					w = -1.5 * x[i]
				}
				if x2[i] != w {
					t.Fatalf("%s scal n=%d: x[%d]=%v want %v", ks.name, n, i, x2[i], w)
				}
			}
		}
		for _, sh := range [][2]int{{1, 1}, {5, 17}, {64, 33}, {10, 500}} {
			m, n := sh[0], sh[1]
			a := randSlice(r, m*n)
			for _, tr := range []bool{false, true} {
				xl, yl := n, m
				if tr {
					xl, yl = m, n
				}
				x := randSlice(r, xl)
				for _, beta := range []float32{0, 0.5} {
					y := randSlice(r, yl)
					if beta == 0 {
						for i := range y {
							y[i] = float32(math.NaN())
						}
					}
					lda := n
					want := naiveGemm(tr, false, yl, 1, xl, 2, a, lda, x, 1, beta, y, 1)
					nativeGemv(ks, tr, m, n, 2, a, x, beta, y)
					for i := range y {
						if math.Abs(float64(y[i])-want[i]) > 1e-5*float64(xl+1) {
							t.Fatalf("%s gemv trans=%v %dx%d beta=%v: y[%d]=%v want %v", ks.name, tr, m, n, beta, i, y[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestPublicAPIBackends runs the exported functions on the active backend
// and on the reference.
func TestPublicAPIBackends(t *testing.T) {
	defer func(b string) { backend = b }(backend)
	for _, b := range []string{"native", "ref"} {
		backend = b
		for _, cs := range gemmCases()[:24] {
			checkGemmCase(t, b, cs, Sgemm)
		}
		x := []float32{1, 2, 3}
		y := []float32{4, 5, 6}
		if got := Dot(3, x, y); got != 32 {
			t.Fatalf("%s Dot = %v", b, got)
		}
		Axpy(3, 2, x, y)
		Scal(3, 0.5, y)
		if y[0] != 3 || y[1] != 4.5 || y[2] != 6 {
			t.Fatalf("%s Axpy/Scal = %v", b, y)
		}
		yy := make([]float32, 2)
		Gemv(false, 2, 3, 1, []float32{1, 0, 0, 0, 1, 1}, x, 0, yy)
		if yy[0] != 1 || yy[1] != 5 {
			t.Fatalf("%s Gemv = %v", b, yy)
		}
	}
}

// TestNoAllocsAfterWarmup: a training step calls the same gemms every
// iteration, so once the scratch buffers have grown nothing allocates, on
// the serial, parallel and busy-pool (concurrent caller) paths.
func TestNoAllocsAfterWarmup(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(11, 12))
	shapes := []gemmCase{
		{m: 20, n: 576, k: 25}, {m: 64, n: 10, k: 500, tB: true}, {m: 500, n: 800, k: 64, tA: true},
		{m: 64, n: 500, k: 800, tB: true}, {m: 50, n: 500, k: 64, tB: true}, {m: 300, n: 300, k: 300},
	}
	for _, th := range []int{1, 2} {
		SetThreads(th)
		for _, cs := range shapes {
			a, b, c := randSlice(r, cs.m*cs.k), randSlice(r, cs.k*cs.n), make([]float32, cs.m*cs.n)
			f := func() { Gemm(cs.tA, cs.tB, cs.m, cs.n, cs.k, 1, a, b, 0, c) }
			f()
			if n := testing.AllocsPerRun(20, f); n != 0 {
				t.Errorf("threads=%d %+v: %v allocs per call", th, cs, n)
			}
			// With the pool held, as when layers run gemms on several goroutines.
			pool.mu.Lock()
			f()
			n := testing.AllocsPerRun(20, f)
			pool.mu.Unlock()
			if n != 0 {
				t.Errorf("busy pool %+v: %v allocs per call", cs, n)
			}
		}
	}
	x, y, z := randSlice(r, 1000), randSlice(r, 1000), make([]float32, 100)
	if n := testing.AllocsPerRun(20, func() {
		Axpy(1000, 2, x, y)
		Scal(1000, 0.5, y)
		Dot(1000, x, y)
		Gemv(true, 10, 100, 1, x, y[:10], 0, z)
	}); n != 0 {
		t.Errorf("level 1/2: %v allocs per call", n)
	}
}

// TestSgemmRejectsShortOperands: the assembly reads through raw pointers,
// so inconsistent shapes must panic before any kernel runs.
func TestSgemmRejectsShortOperands(t *testing.T) {
	cases := []struct {
		name string
		f    func()
	}{
		{"short A", func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
		}},
		{"short B^T", func() {
			Sgemm(false, true, 4, 5, 4, 1, make([]float32, 16), 4, make([]float32, 19), 4, 0, make([]float32, 20), 5)
		}},
		{"short C", func() {
			Sgemm(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
		}},
		{"lda too small", func() {
			Sgemm(false, false, 2, 2, 4, 1, make([]float32, 16), 3, make([]float32, 16), 2, 0, make([]float32, 4), 2)
		}},
		{"negative", func() { Sgemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) }},
		{"short gemv x", func() { Gemv(false, 2, 3, 1, make([]float32, 6), make([]float32, 2), 0, make([]float32, 2)) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.f()
		}()
	}
	// A tight last row (len = (rows-1)*ld + cols) is legal.
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 5), 3, make([]float32, 5), 3, 0, make([]float32, 5), 3)
}

// rowTile must cover every row exactly in the fewest tiles, never exceed
// mr, and spread the rows evenly (heights differ by at most one).
func TestRowTile(t *testing.T) {
	for _, mr := range []int{6, 12} {
		for m := 1; m <= 200; m++ {
			lo, hi, n := mr, 0, 0
			for rem := m; rem > 0; n++ {
				h := rowTile(rem, mr)
				if h < 1 || h > mr || h > rem {
					t.Fatalf("mr=%d m=%d: tile of %d rows with %d left", mr, m, h, rem)
				}
				lo, hi = min(lo, h), max(hi, h)
				rem -= h
			}
			if want := (m + mr - 1) / mr; n != want || hi-lo > 1 {
				t.Fatalf("mr=%d m=%d: %d tiles of %d to %d rows, want %d even tiles", mr, m, n, lo, hi, want)
			}
		}
	}
	if !shortLastTile(50, 12) || shortLastTile(32, 12) || shortLastTile(48, 12) || shortLastTile(7, 12) {
		t.Fatal("shortLastTile: wrong choice for 50, 32, 48 or 7 rows of 12")
	}
}

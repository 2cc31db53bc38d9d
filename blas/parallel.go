package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Threading: a persistent pool of worker goroutines (started on first use)
// takes parts of large gemms. One caller at a time owns the pool; a caller
// that finds it busy (say, layers already parallelising over the batch)
// computes serially on its own goroutine instead of queueing, so threads
// are never oversubscribed by this package.

// parMinWork is the m*n*k below which a gemm runs serially: handing work to
// a parked goroutine costs a few microseconds, more than small products take.
const parMinWork = 1 << 17

// threads is read by every Sgemm, possibly on several goroutines while
// another sets it (layers limit blas to one thread inside their own
// batch-parallel regions), hence atomic.
var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// maxThreads bounds the split of one gemm.
const maxThreads = 64

// SetThreads sets how many threads (the caller plus pool workers) a single
// gemm may use; n < 1 means GOMAXPROCS. Calls already running keep the
// count they started with.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads.Store(int32(n))
}

// Threads is the number of threads a single gemm may use.
func Threads() int { return int(threads.Load()) }

type task struct {
	ks *kernelSet
	g  gemmArgs
}

// worker is one pool goroutine. Hand-off is a sequence number rather than
// a channel: a worker that finished recently is still spinning on it, so a
// new task starts in well under a microsecond (LeNet's gemms take a few
// microseconds each). After spinLimit idle polls the worker parks on wake.
//
// A posted task is claimed with a compare-and-swap. When the caller has
// finished its own part and the worker has not yet claimed its part (its
// thread was descheduled on a busy machine, or still waking up), the caller
// revokes the task and computes it itself, so a late worker costs at most
// the serial time instead of a stall.
type worker struct {
	seq    atomic.Uint64 // bumped by the caller after posting t
	state  atomic.Int32  // stIdle, stPosted, stRunning
	parked atomic.Bool
	wake   chan struct{}
	t      task
	s      scratch
}

const (
	stIdle int32 = iota
	stPosted
	stRunning
)

// spinLimit idle polls (tens of microseconds) before a worker parks: long
// enough to bridge the gaps between the gemms of one training step, short
// enough not to burn a shared core between steps.
const spinLimit = 1 << 15

func (w *worker) loop() {
	var last uint64
	for {
		for spins := 0; w.seq.Load() == last; spins++ {
			if spins < spinLimit {
				// Let other goroutines (a layer's own batch workers)
				// have this P now and then while spinning.
				if spins&1023 == 1023 {
					runtime.Gosched()
				}
				continue
			}
			w.parked.Store(true)
			if w.seq.Load() == last {
				<-w.wake
			}
			w.parked.Store(false)
			spins = 0
		}
		last = w.seq.Load()
		if w.state.CompareAndSwap(stPosted, stRunning) {
			w.t.ks.serial(&w.s, &w.t.g)
			w.state.Store(stIdle)
		}
	}
}

// post hands t to w, which must be idle.
func (w *worker) post(t task) {
	w.t = t
	w.state.Store(stPosted)
	w.seq.Add(1)
	if w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// finish makes sure w's task is done: revoked and run on the caller's
// goroutine (with scratch s) if the worker never claimed it, else waited
// for.
func (w *worker) finish(s *scratch) {
	if w.state.CompareAndSwap(stPosted, stIdle) {
		w.t.ks.serial(s, &w.t.g)
		return
	}
	for spins := 0; w.state.Load() != stIdle; spins++ {
		if spins > 256 {
			runtime.Gosched()
		}
	}
}

type workerPool struct {
	mu      sync.Mutex // held by the one caller using the pool
	workers []*worker
	scr     scratch // the caller's, while it holds mu
}

var pool = &workerPool{}

// spares serve callers that find the pool busy (several goroutines each
// running small gemms): a fixed set, so that steady-state calls never
// allocate, then a sync.Pool beyond it.
var (
	spares [maxThreads]struct {
		mu sync.Mutex
		s  scratch
	}
	spare = sync.Pool{New: func() any { return new(scratch) }}
)

// serialSpare runs g on the calling goroutine with a spare scratch.
func serialSpare(ks *kernelSet, g *gemmArgs) {
	for i := range spares {
		if sp := &spares[i]; sp.mu.TryLock() {
			ks.serial(&sp.s, g)
			sp.mu.Unlock()
			return
		}
	}
	s := spare.Get().(*scratch)
	ks.serial(s, g)
	spare.Put(s)
}

// ensure starts workers until there are n-1 of them. mu must be held.
func (p *workerPool) ensure(n int) {
	for len(p.workers) < n-1 {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.loop()
	}
}

func nativeSgemm(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gemmArgs{tA: transA, tB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	if !pool.mu.TryLock() {
		serialSpare(ks, &g)
		return
	}
	defer pool.mu.Unlock()
	t := Threads()
	if t <= 1 || m*n*k < parMinWork || k == 0 || alpha == 0 {
		ks.serial(&pool.scr, &g)
		return
	}
	// Split C into t slabs along the longer dimension, in whole tiles.
	unitM, unitN := ks.mr, ks.nr
	if ks.useDot(&g) {
		unitM, unitN = ks.dm, 4
	}
	splitN := n >= m
	units := (n + unitN - 1) / unitN
	unit := unitN
	if !splitN || units < 2 {
		splitN = false
		units, unit = (m+unitM-1)/unitM, unitM
		if units < 2 {
			splitN, units, unit = true, (n+unitN-1)/unitN, unitN
		}
	}
	parts := min(t, units, maxThreads)
	if parts < 2 {
		ks.serial(&pool.scr, &g)
		return
	}
	pool.ensure(parts)
	dim := m
	if splitN {
		dim = n
	}
	lo := 0
	var mine gemmArgs
	for i := 0; i < parts; i++ {
		hi := min(dim, ((i+1)*units/parts)*unit)
		var sub gemmArgs
		if splitN {
			sub = g.sub(0, m, lo, hi)
		} else {
			sub = g.sub(lo, hi, 0, n)
		}
		lo = hi
		if i == 0 {
			mine = sub
			continue
		}
		pool.workers[i-1].post(task{ks: ks, g: sub})
	}
	ks.serial(&pool.scr, &mine)
	for i := 1; i < parts; i++ {
		pool.workers[i-1].finish(&pool.scr)
	}
}

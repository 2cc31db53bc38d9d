package blas

import (
	"runtime"
	"sync"
)

// Threading: a persistent pool of worker goroutines (started on first use)
// takes parts of large gemms. One caller at a time owns the pool; a caller
// that finds it busy (say, layers already parallelising over the batch)
// computes serially on its own goroutine instead of queueing, so threads
// are never oversubscribed by this package.

// parMinWork is the m*n*k below which a gemm runs serially: handing work to
// a parked goroutine costs a few microseconds, more than small products take.
const parMinWork = 1 << 17

var threads = runtime.GOMAXPROCS(0)

// SetThreads sets how many threads (the caller plus pool workers) a single
// gemm may use; n < 1 means GOMAXPROCS. Not safe to call concurrently with
// Sgemm.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads = n
}

// Threads is the number of threads a single gemm may use.
func Threads() int { return threads }

type task struct {
	ks *kernelSet
	g  gemmArgs
}

type workerPool struct {
	mu   sync.Mutex // held by the one caller using the pool
	work []chan task
	done chan struct{}
	scr  []*scratch // scr[0] belongs to the caller holding mu
}

var pool = &workerPool{done: make(chan struct{}, 64), scr: []*scratch{{}}}

// spare serves callers that find the pool busy.
var spare = sync.Pool{New: func() any { return new(scratch) }}

// ensure starts workers until there are n-1 of them. mu must be held.
func (p *workerPool) ensure(n int) {
	for len(p.work) < n-1 {
		ch := make(chan task, 1)
		s := &scratch{}
		p.work = append(p.work, ch)
		p.scr = append(p.scr, s)
		go func() {
			for t := range ch {
				t.ks.serial(s, &t.g)
				p.done <- struct{}{}
			}
		}()
	}
}

func nativeSgemm(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gemmArgs{tA: transA, tB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	if !pool.mu.TryLock() {
		s := spare.Get().(*scratch)
		ks.serial(s, &g)
		spare.Put(s)
		return
	}
	defer pool.mu.Unlock()
	t := threads
	if t <= 1 || m*n*k < parMinWork || k == 0 || alpha == 0 {
		ks.serial(pool.scr[0], &g)
		return
	}
	// Split C into t slabs along the longer dimension, in whole tiles.
	unitM, unitN := ks.mr, ks.nr
	if ks.useDot(&g) {
		unitM, unitN = 4, 4
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
	parts := min(t, units)
	if parts < 2 {
		ks.serial(pool.scr[0], &g)
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
		pool.work[i-1] <- task{ks: ks, g: sub}
	}
	ks.serial(pool.scr[0], &mine)
	for i := 1; i < parts; i++ {
		<-pool.done
	}
}

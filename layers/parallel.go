package layers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cos-project/cos/blas"
)

// Batch parallelism. LeNet's and CIFAR-10's per-image gemms are too small
// for blas to split across cores profitably, so the big layers split the
// batch instead: each image (or block of images) is a task, and the caller
// plus persistent pool goroutines claim tasks from a shared counter. Every
// task writes only its own outputs and its own partial-sum slot, and the
// caller reduces the slots in task order afterwards, so results do not
// depend on which goroutine ran which task (runs stay reproducible), and a
// goroutine descheduled on a busy machine just ends up running fewer
// tasks instead of stalling the step.
//
// While tasks run, blas is limited to one thread: both cores are already
// busy, and a blas worker splitting a task's gemm would only fight them.
// Gemms outside a region (the inner product's) are split over this pool
// too (parallelGemm), so a step has one set of workers. Between regions a
// worker spins for a while instead of parking, and a caller spins for its
// region's last tasks, because a parked goroutine takes longer to wake
// here than many regions last; spinning backs off when the machine is
// oversubscribed (see spinner).

// parJob is a batch of tasks; runTask(slot, t) runs task t with the
// scratch of participant slot (0 ≤ slot < the parts passed to
// runParallel).
type parJob interface {
	runTask(slot, task int)
}

// The region state packs a generation (which call of runParallel), the
// number of participants, the task count and the next unclaimed task, so
// that a worker that wakes late can never claim a task of a region that
// has ended, and a worker outside the region's participants never joins.
const (
	taskBits  = 16
	taskMask  = 1<<taskBits - 1
	maxTasks  = taskMask
	partShift = 2 * taskBits
	partMask  = 1<<8 - 1
	maxParts  = partMask
	genShift  = partShift + 8
)

type parPool struct {
	mu      sync.Mutex // held by the one caller running a region
	workers []*parWorker
	job     parJob        // written before state, read after a claim
	state   atomic.Uint64 // gen | parts | ntask | next
	done    atomic.Int64  // tasks finished in the current region
	gen     uint64
	// waiting is set by a caller about to sleep on finished until the
	// last task is done; whoever finishes it clears waiting and sends.
	waiting  atomic.Bool
	finished chan struct{}
	panicked atomic.Pointer[panicBox]
}

// waitSpin is how long a caller polls for the last tasks of a region
// before it sleeps. Waking a sleeping goroutine takes tens of microseconds
// here, as long as the tail of many regions, so the caller polls through
// it, yielding its P now and then to goroutines queued behind it. Shorter
// than workerSpin: on an oversubscribed machine a polling caller takes
// CPU time from the very worker it waits for.
var waitSpin = 50 * time.Microsecond

// waitDone returns once ntask tasks of the current region are done.
func (p *parPool) waitDone(ntask int64) {
	var sp spinner
	for spins := 0; ; spins++ {
		if p.done.Load() == ntask {
			return
		}
		if spins&255 == 255 && !sp.keepSpinning(waitSpin) {
			break
		}
	}
	p.waiting.Store(true)
	if p.done.Load() == ntask && p.waiting.CompareAndSwap(true, false) {
		return // finished meanwhile, and nobody will send
	}
	<-p.finished
}

// Spinning pays only while the process has both cores. On a machine
// shared with other busy processes the kernel time-slices this process's
// threads, and a spinning thread takes its slices from the one doing the
// work (measured: LeNet's step up to 1.5× slower with unconditional
// spins). A spinner that finds it was descheduled (a gap between two of
// its clock reads far longer than the polls between them take) therefore
// turns spinning off for everyone for spinBackoff, after which the next
// spin tries again.
const (
	spinPreempted = 50 * time.Microsecond
	spinBackoff   = 50 * time.Millisecond
)

// noSpinUntil is the UnixNano time before which nobody spins.
var noSpinUntil atomic.Int64

// spinner times one spin: keepSpinning, called every few hundred polls,
// says whether to go on polling, and yields the P meanwhile.
type spinner struct {
	start, last time.Time
}

func (sp *spinner) keepSpinning(limit time.Duration) bool {
	now := time.Now()
	if sp.start.IsZero() {
		if limit <= 0 || now.UnixNano() < noSpinUntil.Load() {
			return false
		}
		sp.start, sp.last = now, now
	}
	if now.Sub(sp.last) > spinPreempted {
		noSpinUntil.Store(now.Add(spinBackoff).UnixNano())
		return false
	}
	sp.last = now
	if now.Sub(sp.start) > limit {
		return false
	}
	runtime.Gosched()
	return true
}

// parWorker i always runs in slot i+1 (slot 0 is the caller's).
type parWorker struct {
	slot int
	wake chan struct{}
}

var pool = parPool{finished: make(chan struct{}, 1)}

// threadsOf reads Context.Threads (0: GOMAXPROCS, resolved at run time).
func threadsOf(ctx *Context) int {
	if ctx != nil && ctx.Threads > 0 {
		return ctx.Threads
	}
	return 0
}

// effectiveThreads is threads (0: GOMAXPROCS), never more than GOMAXPROCS:
// more goroutines than Ps only adds switching.
func effectiveThreads(threads int) int {
	p := runtime.GOMAXPROCS(0)
	if threads <= 0 || threads > p {
		threads = p
	}
	return min(threads, maxParts)
}

// runParallel runs tasks [0, ntask) of job on up to parts participants (the
// caller and parts-1 pool goroutines). job must size its per-slot scratch
// for parts slots. With one part, or when another caller holds the pool
// (two nets running at once), the caller runs every task itself in slot 0.
func runParallel(job parJob, parts, ntask int) {
	parts = min(parts, ntask, maxParts)
	if parts <= 1 || ntask > maxTasks || !pool.mu.TryLock() {
		for t := 0; t < ntask; t++ {
			job.runTask(0, t)
		}
		return
	}
	defer pool.mu.Unlock()
	for len(pool.workers) < parts-1 {
		w := &parWorker{slot: len(pool.workers) + 1, wake: make(chan struct{}, 1)}
		pool.workers = append(pool.workers, w)
		go w.loop()
	}
	prevThreads := blas.Threads()
	blas.SetThreads(1)
	pool.job = job
	pool.done.Store(0)
	pool.gen++
	gen := pool.gen & (1<<(64-genShift) - 1)
	pool.state.Store(gen<<genShift | uint64(parts)<<partShift | uint64(ntask)<<taskBits)
	for _, w := range pool.workers[:parts-1] {
		select {
		case w.wake <- struct{}{}:
		default: // already signalled; it reads the state when it runs
		}
	}
	claimTasks(0)
	pool.waitDone(int64(ntask))
	pool.job = nil
	blas.SetThreads(prevThreads)
	if p := pool.panicked.Swap(nil); p != nil {
		// A task panicked (on whichever goroutine): re-raised here, on
		// the caller's, where the net's and the jobs' recovery can see it.
		panic(p.v)
	}
}

// panicBox carries a task's panic value to the region's caller.
type panicBox struct{ v any }

// runTask runs one task, recording a panic instead of letting it kill the
// process from a pool goroutine; the task still counts as done.
func runTask(job parJob, slot, task int) {
	defer func() {
		if r := recover(); r != nil {
			pool.panicked.CompareAndSwap(nil, &panicBox{r})
		}
	}()
	job.runTask(slot, task)
}

// claimTasks runs tasks of the current region in slot until none is left
// (or the slot does not take part in it). A claim succeeds only while the
// region has unclaimed tasks, and the region's caller waits for every
// claimed task, so after a successful claim pool.job is this region's.
func claimTasks(slot int) {
	for {
		s := pool.state.Load()
		next, n := int(s&taskMask), int(s>>taskBits&taskMask)
		if next >= n || slot >= int(s>>partShift&partMask) {
			return
		}
		if pool.state.CompareAndSwap(s, s+1) {
			runTask(pool.job, slot, next)
			if pool.done.Add(1) == int64(n) && pool.waiting.CompareAndSwap(true, false) {
				pool.finished <- struct{}{}
			}
		}
	}
}

func (w *parWorker) loop() {
	for range w.wake {
		claimTasks(w.slot)
		for w.spinForRegion() {
			claimTasks(w.slot)
		}
	}
}

// workerSpin is how long a worker polls for the next region before it
// parks on wake. A parked goroutine takes tens of microseconds to wake on
// these machines (futex, then a P), longer than many of a step's regions
// last, so without the spin the caller ran most small regions alone
// (measured: a worker woken for eight 10µs tasks ran two). The regions of
// a training step follow each other within a few microseconds, so the
// spin bridges them; between steps, or when the net is idle, it expires.
var workerSpin = 200 * time.Microsecond

// spinForRegion polls the region state until a region this worker can
// join has unclaimed tasks (true) or workerSpin passes (false).
func (w *parWorker) spinForRegion() bool {
	var sp spinner
	for spins := 0; ; spins++ {
		s := pool.state.Load()
		if int(s&taskMask) < int(s>>taskBits&taskMask) && w.slot < int(s>>partShift&partMask) {
			return true
		}
		if spins&255 == 0 && !sp.keepSpinning(workerSpin) {
			return false
		}
	}
}

// ParallelJob is a batch of independent tasks for a Parallel runner:
// RunTask(slot, task) runs task with the scratch of participant slot.
type ParallelJob interface {
	RunTask(slot, task int)
}

// Parallel runs jobs of other packages (the solver's update) on the same
// worker pool as the layers, so they share its goroutines and its rule:
// tasks are claimed from a counter by whichever participant is free, and
// a job whose tasks write disjoint outputs gets results independent of the
// thread count. Hold one in a long-lived struct: running a job through it
// then allocates nothing.
type Parallel struct {
	job ParallelJob
}

// Run runs tasks [0, ntask) of job on up to threads participants (0:
// GOMAXPROCS) and returns when all are done. A task's panic is re-raised
// on the caller.
func (p *Parallel) Run(job ParallelJob, threads, ntask int) {
	p.job = job
	runParallel(p, effectiveThreads(threads), ntask)
	p.job = nil
}

func (p *Parallel) runTask(slot, task int) { p.job.RunTask(slot, task) }

// gemmJob is one blas.Sgemm split into tasks over a fixed number of slabs
// of C (rows when byRows, else columns), each a single-threaded gemm run
// on the layers' pool. Layers outside a batch-parallel region (the inner
// product) use it instead of blas's own threads, so one pool of spinning
// workers serves the whole step: a second pool's parked worker would wake
// too late for gemms of a few hundred microseconds. Slabs are whole
// multiples of align, and every element of C gets the same sum in the
// same order whatever the slab, so the result does not depend on the
// thread count.
type gemmJob struct {
	tA, tB      bool
	m, n, k     int
	alpha, beta float32
	a, b, c     []float32
	lda, ldb    int
	ldc         int
	byRows      bool
	align       int
	tasks       int
}

// gemmSlabWork is the least m*n*k per slab: below it the hand-off costs
// more than the slab takes.
const gemmSlabWork = 1 << 17

// gemmMaxSlabs bounds the slabs: enough that a thread slowed by the
// machine's other load sheds work to the other, few enough that each
// slab's gemm keeps long rows.
const gemmMaxSlabs = 4

// parallelGemm computes C = alpha*op(A)*op(B) + beta*C (blas.Sgemm's
// arguments) on up to parts participants.
func parallelGemm(j *gemmJob, parts int, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	*j = gemmJob{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	// Split the longer side of C, in whole micro-kernel tiles.
	tr, tc := blas.Tile()
	j.byRows = m > n
	j.align, j.tasks = tc, 1
	dim := n
	if j.byRows {
		j.align, dim = tr, m
	}
	if units := (dim + j.align - 1) / j.align; units > 1 {
		j.tasks = max(1, min(gemmMaxSlabs, units, m*n*k/gemmSlabWork))
	}
	runParallel(j, parts, j.tasks)
	j.a, j.b, j.c = nil, nil, nil
}

func (j *gemmJob) runTask(_, t int) {
	dim := j.n
	if j.byRows {
		dim = j.m
	}
	units := (dim + j.align - 1) / j.align
	lo := min(dim, t*units/j.tasks*j.align)
	hi := min(dim, (t+1)*units/j.tasks*j.align)
	if t == j.tasks-1 {
		hi = dim
	}
	if lo >= hi {
		return
	}
	a, b, c := j.a, j.b, j.c
	m, n := j.m, j.n
	if j.byRows {
		m = hi - lo
		if j.tA {
			a = a[lo:]
		} else {
			a = a[lo*j.lda:]
		}
		c = c[lo*j.ldc:]
	} else {
		n = hi - lo
		if j.tB {
			b = b[lo*j.ldb:]
		} else {
			b = b[lo:]
		}
		c = c[lo:]
	}
	blas.Sgemm(j.tA, j.tB, m, n, j.k, j.alpha, a, j.lda, b, j.ldb, j.beta, c, j.ldc)
}

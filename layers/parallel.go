package layers

import (
	"runtime"
	"sync"
	"sync/atomic"

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

// waitSpins is how many polls a caller makes for the last tasks before
// it sleeps: a few microseconds. Spinning longer (or yielding in a loop)
// burns a core that other goroutines — blas's worker in the next layer,
// other processes on a shared machine — could use.
const waitSpins = 4096

// waitDone returns once ntask tasks of the current region are done.
func (p *parPool) waitDone(ntask int64) {
	for spins := 0; spins < waitSpins; spins++ {
		if p.done.Load() == ntask {
			return
		}
	}
	p.waiting.Store(true)
	if p.done.Load() == ntask && p.waiting.CompareAndSwap(true, false) {
		return // finished meanwhile, and nobody will send
	}
	<-p.finished
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

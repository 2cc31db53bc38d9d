package distri

import (
	"fmt"
	"os"
	"sync"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
)

// Reducer averages gradients across the executors of a cluster; it
// implements solver.Reducer, and solver.ShardedReducer on the
// shared-memory plane (see shard.go).
//
// As the backward pass finishes layers (last layer first), ParamsReady
// copies their param diffs into buckets of about Config.BucketBytes; a full
// bucket is all-reduced by a background goroutine while the backward pass
// continues, as PyTorch's DistributedDataParallel does. Wait flushes the last
// partial bucket, waits for every bucket, and copies the averages back into
// the diffs.
//
// The bucket layout is fixed by the first iteration (the order in which
// params become ready, which is the same on every executor because the nets
// are identical); its buffers are allocated then and reused, so later
// iterations allocate nothing here.
type Reducer struct {
	c        *Cluster
	capBytes int

	layout  bool // the layout is frozen (after the first Wait)
	buckets []*bucket
	cur     int // bucket being filled
	pos     int // next param slot in cur
	fill    int // floats in cur so far

	// direct: the cluster all-reduces through shared memory, which reads
	// and writes the diffs themselves, so buckets hold no copies after the
	// first iteration.
	direct bool

	sh shardState

	// noExchange is COS_BENCH_NO_EXCHANGE=1, a measurement for
	// scripts/scaling_bench.sh: the executors still meet once per step
	// (Wait is a barrier: an all-reduce of one float64), but no gradient
	// is exchanged, so each replica trains on its own gradient and they
	// diverge. Against the normal run it prices what the all-reduce moves,
	// apart from the lock-step that synchronous training needs anyway.
	// Wait returns before the bucket layout is fixed, so no step is ever
	// sharded either.
	noExchange bool
	one        []float64

	work    chan *bucket
	pending sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

type bucket struct {
	buf    []float32
	params []*layers.Blob
	offs   []int
	parts  [][]float32 // direct mode: the params' diffs, refreshed per use
}

// NewReducer returns the cluster's gradient reducer, with buckets of about
// bucketBytes (0: Config.BucketBytes). For a world of size 1 every method is
// a no-op.
func (c *Cluster) NewReducer(bucketBytes int) *Reducer {
	if bucketBytes <= 0 {
		bucketBytes = c.cfg.BucketBytes
	}
	r := &Reducer{c: c, capBytes: bucketBytes, direct: c.shm != nil}
	if c.size > 1 && os.Getenv("COS_BENCH_NO_EXCHANGE") == "1" {
		r.noExchange, r.one = true, make([]float64, 1)
		c.cfg.Logf("distri: rank %d: COS_BENCH_NO_EXCHANGE=1: no gradient is exchanged, the replicas diverge (a measurement, not training)", c.rank)
	}
	if c.size > 1 {
		r.work = make(chan *bucket, 1024)
		go r.loop(r.work)
	}
	return r
}

func (r *Reducer) loop(work <-chan *bucket) {
	for b := range work {
		if r.firstErr() == nil && r.direct {
			b.parts = b.parts[:0]
			for _, p := range b.params {
				b.parts = append(b.parts, p.Diff[:p.Count()])
			}
			done, err := r.c.allReduceParts(b.parts, b.offs)
			if err != nil {
				r.setErr(err)
			}
			if done {
				r.pending.Done()
				continue
			}
		}
		if r.firstErr() == nil {
			if err := r.c.AllReduceMean(b.buf); err != nil {
				r.setErr(err)
			} else {
				for i, p := range b.params {
					copy(p.Diff[:p.Count()], b.buf[b.offs[i]:])
				}
			}
		}
		r.pending.Done()
	}
}

func (r *Reducer) firstErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

func (r *Reducer) setErr(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
}

// ParamsReady implements solver.Reducer: the diffs of params are final for
// this iteration.
func (r *Reducer) ParamsReady(params []*net.Param) {
	if r.c.size == 1 || r.noExchange {
		return
	}
	for _, p := range params {
		r.add(p.Blob)
	}
}

// AddBlob is ParamsReady for one blob whose Diff is final (for callers
// that do not use net.Param).
func (r *Reducer) AddBlob(b *layers.Blob) {
	if r.c.size == 1 || r.noExchange {
		return
	}
	r.add(b)
}

func (r *Reducer) add(p *layers.Blob) {
	n := p.Count()
	if !r.layout {
		if r.cur == len(r.buckets) {
			r.buckets = append(r.buckets, &bucket{})
		}
		b := r.buckets[r.cur]
		b.params = append(b.params, p)
		b.offs = append(b.offs, len(b.buf))
		b.buf = append(b.buf, p.Diff[:n]...)
		if len(b.buf)*4 >= r.capBytes {
			r.submit()
		}
		return
	}
	if r.cur >= len(r.buckets) || r.pos >= len(r.buckets[r.cur].params) || r.buckets[r.cur].params[r.pos] != p {
		r.setErr(fmt.Errorf("distri: reducer: params became ready in a different order than in the first iteration (param %q, %d values)", p.Name, n))
		return
	}
	b := r.buckets[r.cur]
	if r.sh.on {
		r.addSharded(p)
		r.pos++
		if r.pos == len(b.params) {
			r.cur++
			r.pos = 0
		}
		return
	}
	if !r.direct {
		copy(b.buf[b.offs[r.pos]:], p.Diff[:n])
	}
	r.pos++
	if r.pos == len(b.params) {
		r.submit()
	}
}

func (r *Reducer) submit() {
	r.pending.Add(1)
	r.work <- r.buckets[r.cur]
	r.cur++
	r.pos = 0
}

// Wait implements solver.Reducer: it returns once every diff handed to
// ParamsReady holds the average over all executors.
func (r *Reducer) Wait() error {
	if r.c.size == 1 {
		return nil
	}
	if r.noExchange {
		return r.c.SumFloat64(r.one)
	}
	sharded := false
	if !r.layout {
		if r.cur < len(r.buckets) && len(r.buckets[r.cur].params) > 0 {
			r.submit()
		}
		r.buckets = r.buckets[:r.cur]
		r.layout = true
		defer r.planShards()
	} else if r.cur != len(r.buckets) && (r.cur != 0 || r.pos != 0) {
		// Only part of the params became ready this iteration.
		r.setErr(fmt.Errorf("distri: reducer: only %d of %d gradient buckets became ready in this iteration", r.cur, len(r.buckets)))
	} else {
		sharded = r.sh.on && r.cur != 0
	}
	r.pending.Wait()
	if sharded && r.firstErr() == nil {
		r.cur, r.pos = 0, 0
		if err := r.waitSharded(); err != nil {
			return err
		}
	}
	r.cur, r.pos = 0, 0
	if err := r.firstErr(); err != nil {
		return err
	}
	return r.c.Err()
}

// SumFloat64 implements solver.Reducer: vals are summed element-wise across
// executors, in place. Buckets already handed to the background goroutine
// are reduced first, so every executor sees the same order of operations.
func (r *Reducer) SumFloat64(vals []float64) error {
	if r.c.size == 1 {
		return nil
	}
	r.pending.Wait()
	if err := r.firstErr(); err != nil {
		return err
	}
	return r.c.SumFloat64(vals)
}

// Close stops the background goroutine (after the pending buckets).
func (r *Reducer) Close() {
	if r.work != nil {
		r.pending.Wait()
		close(r.work)
		r.work = nil
	}
	if r.sh.homed {
		r.unhome()
	}
}

package distri

import (
	"os"
	"sync/atomic"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/solver"
)

// The sharded update (ZeRO stage 1) over the shared-memory plane.
//
// With every executor on one host, averaging the gradient on every executor
// and then running the full solver update on every replica is the same work
// done N times. Instead, from the second iteration on (the first one fixes
// the bucket layout), a step goes:
//
//	backward:  each param's diff is copied into this rank's slot at its
//	           place in the flat layout (the buckets, one after the other;
//	           with two ranks only the other rank's section, since this
//	           rank reads its own values from the diff);
//	Wait:      publish arrive, wait for every arrive (one barrier);
//	update:    the solver updates only this rank's section of every bucket
//	           (the values shmAllReduce would have made it sum), chunk by
//	           chunk: ReduceSection sums the slots into the diff chunk in
//	           the ring's order, the solver's update rule consumes it while
//	           it is in cache, and UpdatedSection copies the new weights of
//	           the chunk into the result region;
//	gather:    publish done, wait for every done (the second barrier), copy
//	           the other ranks' sections of the weights out of the result
//	           region into this replica.
//
// Every element goes through exactly the float operations of the unsharded
// path (the ring-ordered sum and division of shmAllReduce on the same
// bucket, then the same update formula on one executor instead of all), so
// weights are bit-identical to it and on every replica. A rank's solver
// history is then current only for its own sections; the solver gathers it
// (AllGather) before it writes a snapshot.
//
// The slot-reuse rules of shm.go still hold: a rank writes its slot only
// once everyone's done counter reached the previous operation (everyone
// has finished reading the slots), and the result region only after the
// arrive barrier of the operation that writes it (everyone has finished
// copying the previous result out). A sharded step publishes done only
// after its update, so a collective that the solver runs between Wait and
// the update (the displayed loss's SumFloat64) first finishes the reduction
// into the diffs (finishScatter) and publishes done; the update then only
// applies the rule, and the weights travel in a separate all-gather.
//
// With two ranks the gradients themselves live in shared memory from the
// first sharded step on (home): each rank's param diffs are its grad
// region, so the backward pass writes every gradient where the other rank
// reads it, and addSharded has nothing to copy (0.85 MB per LeNet step).
// A rank rewrites its grad region (clearing the diffs, the next backward)
// only after the done barrier, when no one reads it any more. With more
// ranks the diffs stay in the process (the N-rank sum reads every slot,
// this rank's included, while it writes this rank's diff). The weights stay
// in the process too: measured, a weights region shared by both ranks made
// the step slower (the forward pass then reads half the weights, and the
// update writes half, in lines the other core holds), where copying the
// other rank's sections in is one streaming pass. Only one Reducer per
// cluster homes its diffs, only when nothing aliases them (the solver says
// so: no param shared by name), and the mapping stays while they live in it
// (the net uses them without any lock); Close moves them back.
// COS_SHARDED_HOME=0 keeps the diffs in the process.
//
// Sharding is not used (the step all-reduces as before) when the solver
// did not ask for it (gradient clipping needs the norm of the whole
// averaged gradient), on the gRPC plane, for a world of 1, when the
// gradient does not fit into one slot (shmAllReduce would cut it into
// pieces of the slot's capacity, and each piece has its own sections), when
// a blob was reported twice (sections would overlap; net reports every
// param once), or with COS_SHARDED_UPDATE=0 in the environment (for
// comparisons). iter_size > 1 needs nothing special: only the last
// backward pass reports its params.

var _ solver.ShardedReducer = (*Reducer)(nil)

// shardState is a Reducer's sharded-update state.
type shardState struct {
	want bool // the solver asked for it (EnableShardedUpdate)
	on   bool // the layout allows it: every step after the first is sharded

	// Per blob, in layout order: the blob, its offset in the flat layout,
	// and the offset and length of its bucket (one shmAllReduce operation
	// in the unsharded path, whose sections and ring runs the sums follow).
	blobs []*layers.Blob
	goff  []int
	base  []int
	nb    []int
	total int
	rp    int              // the ring's piece length for float32
	secs  []solver.Section // this rank's section of every blob

	next    int  // blobs copied into the slot this step
	started bool // this step's copies began (the slot is free)

	active bool   // between Wait and GatherUpdate of a sharded step
	fused  bool   // no collective ran since Wait: sums and weights go through ReduceSection / UpdatedSection
	summed bool   // finishScatter already summed every section into the diffs
	seq    uint64 // the step's operation number
	steps  int    // sharded steps so far (tests)

	homed  bool // the diffs live in this rank's grad region (two ranks)
	noHome bool // keep the diffs in the process (aliased, or COS_SHARDED_HOME=0)
}

// shardedUpdateOff is COS_SHARDED_UPDATE=0: every step all-reduces and
// updates the whole net, as without sharding.
func shardedUpdateOff() bool { return os.Getenv("COS_SHARDED_UPDATE") == "0" }

// shardedHomeOff is COS_SHARDED_HOME=0: a sharded update keeps the diffs
// in the process and copies them into the slot.
func shardedHomeOff() bool { return os.Getenv("COS_SHARDED_HOME") == "0" }

// EnableShardedUpdate implements solver.ShardedReducer: the solver can
// update sections (it does not clip gradients).
func (r *Reducer) EnableShardedUpdate(diffsMovable bool) {
	if !r.layout && r.c.size > 1 && r.direct && !shardedUpdateOff() {
		r.sh.want = true
		r.sh.noHome = r.sh.noHome || !diffsMovable
	}
}

// planShards runs when the first Wait froze the layout.
func (r *Reducer) planShards() {
	sh := &r.sh
	if !sh.want || r.c.shm == nil {
		return
	}
	capElems := len(r.c.shm.v32[r.c.rank])
	seen := make(map[*layers.Blob]bool)
	rank := r.c.rank
	total := 0
	for _, b := range r.buckets {
		for i, p := range b.params {
			if seen[p] {
				return // one blob twice: sections would overlap
			}
			seen[p] = true
			sh.blobs = append(sh.blobs, p)
			sh.goff = append(sh.goff, total+b.offs[i])
			sh.base = append(sh.base, total)
			sh.nb = append(sh.nb, len(b.buf))
		}
		total += len(b.buf)
	}
	if total > capElems || total == 0 {
		sh.blobs, sh.goff, sh.base, sh.nb = nil, nil, nil, nil
		return
	}
	sh.total = total
	sh.noHome = sh.noHome || shardedHomeOff()
	sh.rp = r.c.opPiece(4)
	for i, p := range sh.blobs {
		lo, hi := r.sectionOf(rank, i)
		sh.secs = append(sh.secs, solver.Section{Blob: p, Lo: lo, Hi: hi})
	}
	sh.on = true
}

// sectionOf is rank q's section [lo, hi) of blob i, relative to the blob.
func (r *Reducer) sectionOf(q, i int) (lo, hi int) {
	sh := &r.sh
	a, b := shmSection(q, r.c.size, sh.nb[i])
	a += sh.base[i]
	b += sh.base[i]
	g0, g1 := sh.goff[i], sh.goff[i]+sh.blobs[i].Count()
	a, b = max(a, g0), min(b, g1)
	if a >= b {
		return 0, 0
	}
	return a - g0, b - g0
}

// addSharded copies a ready diff into this rank's slot.
func (r *Reducer) addSharded(p *layers.Blob) {
	sh := &r.sh
	if sh.homed {
		return // the diff is already where the other rank reads it
	}
	c := r.c
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.shm == nil || c.shm.mem == nil {
		r.setErr(errShmClosed)
		return
	}
	if !sh.started {
		// The slot is free once everyone has read it (the previous step's
		// sums, or any collective since).
		if err := c.shmWait(1, c.shmSeq); err != nil {
			r.setErr(err)
			return
		}
		sh.started = true
	}
	i := sh.next
	sh.next++
	g := sh.goff[i]
	slot := c.shm.v32[c.rank][g : g+p.Count()]
	if c.size == 2 {
		// Only the other rank reads this slot: ReduceSection takes this
		// rank's own section straight from the diff.
		lo, hi := sh.secs[i].Lo, sh.secs[i].Hi
		copy(slot[:lo], p.Diff[:lo])
		copy(slot[hi:], p.Diff[hi:p.Count()])
		return
	}
	copy(slot, p.Diff[:p.Count()])
}

// waitSharded is Wait's part of a sharded step: every diff is in its slot;
// publish arrive and wait for everyone.
func (r *Reducer) waitSharded() error {
	sh := &r.sh
	c := r.c
	sh.next, sh.started = 0, false
	c.opMu.Lock()
	defer c.opMu.Unlock()
	s := c.shm
	if s.mem == nil {
		return errShmClosed
	}
	if err := c.Err(); err != nil {
		return err
	}
	if !sh.homed && !sh.noHome && c.size == 2 && s.home == nil {
		r.home()
	}
	c.shmSeq++
	sh.seq = c.shmSeq
	atomic.StoreUint64(s.tag(c.rank), shmTag(shmOpScatter, sh.total))
	atomic.StoreUint64(s.ctr(0, c.rank), sh.seq)
	if err := c.shmWait(0, sh.seq); err != nil {
		return err
	}
	if err := c.shmCheckTags(); err != nil {
		return err
	}
	sh.active, sh.fused, sh.summed = true, true, false
	sh.steps++
	s.pending = r
	return nil
}

// Shard implements solver.ShardedReducer.
func (r *Reducer) Shard() ([]solver.Section, bool) {
	return r.sh.secs, r.sh.active
}

// ReduceSection implements solver.ShardedReducer: diff values [lo, hi) of
// section i become the mean over the executors. Disjoint ranges may be
// reduced concurrently.
func (r *Reducer) ReduceSection(i, lo, hi int) {
	sh := &r.sh
	if sh.summed || lo >= hi {
		return
	}
	N := r.c.size
	slots := r.c.shm.v32[:N]
	diff := sh.blobs[i].Diff
	g := sh.goff[i]
	db := g - sh.base[i] // the blob's start in its bucket
	for e := lo; e < hi; {
		j, end := ringRun(db+e, sh.nb[i], sh.rp, N)
		end = min(end-db, hi)
		if N == 2 {
			// This rank's values are still in the diff (see addSharded);
			// the other's in its slot or, homed, its grad region.
			other := slots[1-r.c.rank]
			if sh.homed {
				other = r.c.shm.grad(1 - r.c.rank)
			}
			shmMean2(diff[e:end], other[g+e:g+end])
		} else {
			shmSum(slots, diff[e:end], g+e, j, true)
		}
		e = end
	}
}

// shmMean2 is shmSum's mean of two ranks with one operand in o, which
// receives the mean. The ring's order does not matter for two operands
// (IEEE addition is commutative), and adding then halving in two
// vectorised passes rounds exactly as (a + b) * 0.5 does: the chunks the
// solver passes are small enough to stay in cache between the passes.
func shmMean2(o, other []float32) {
	n := len(o)
	blas.Axpy(n, 1, other[:n], o)
	blas.Scal(n, 0.5, o)
}

// UpdatedSection implements solver.ShardedReducer: data values [lo, hi) of
// section i hold this step's new weights.
func (r *Reducer) UpdatedSection(i, lo, hi int) {
	sh := &r.sh
	if !sh.fused || lo >= hi {
		return
	}
	g := sh.goff[i]
	copy(r.c.shm.v32[r.c.size][g+lo:g+hi], sh.blobs[i].Data[lo:hi])
}

// finishScatter sums every section into the diffs and publishes done, so
// that another collective can use the slots. Called with opMu held.
func (r *Reducer) finishScatter() error {
	sh := &r.sh
	for i, sc := range sh.secs {
		r.ReduceSection(i, sc.Lo, sc.Hi)
	}
	sh.summed, sh.fused = true, false
	s := r.c.shm
	s.pending = nil
	atomic.StoreUint64(s.ctr(1, r.c.rank), sh.seq)
	return nil
}

func blobData(b *layers.Blob) []float32 { return b.Data[:b.Count()] }

// GatherUpdate implements solver.ShardedReducer: after the solver updated
// this rank's sections, every replica gets the other ranks' sections.
func (r *Reducer) GatherUpdate() error {
	sh := &r.sh
	if !sh.active {
		return nil
	}
	sh.active = false
	c := r.c
	c.opMu.Lock()
	defer c.opMu.Unlock()
	s := c.shm
	if s.mem == nil {
		return errShmClosed
	}
	if !sh.fused {
		return r.gatherLocked(blobData)
	}
	s.pending = nil
	atomic.StoreUint64(s.ctr(1, c.rank), sh.seq)
	if err := c.shmWait(1, sh.seq); err != nil {
		return err
	}
	r.copyOthers(s.v32[c.size], blobData)
	return nil
}

// home moves the diffs into this rank's grad region (see the top of this
// file), at the first sharded step's Wait, before this rank arrives: the
// other rank reads them after the arrive barrier. Called with opMu held.
func (r *Reducer) home() {
	sh := &r.sh
	s := r.c.shm
	gr := s.grad(r.c.rank)
	for i, b := range sh.blobs {
		g, n := sh.goff[i], b.Count()
		copy(gr[g:g+n], b.Diff[:n])
		b.Diff = gr[g : g+n : g+n]
	}
	s.home = r
	sh.homed = true
}

// unhome moves the diffs back into the process (Close), so the mapping can
// go: contents unchanged, nothing else refers to them (EnableShardedUpdate).
func (r *Reducer) unhome() {
	c := r.c
	c.opMu.Lock()
	defer c.opMu.Unlock()
	s := c.shm
	if s == nil || s.home != r {
		return
	}
	for _, b := range r.sh.blobs {
		b.Diff = append([]float32(nil), b.Diff...)
	}
	r.sh.homed = false
	s.home = nil
	select {
	case <-c.hbStop:
		// The cluster closed first and left the mapping for the diffs.
		s.unmap()
	default:
	}
}

// AllGather implements solver.ShardedReducer: for every blob of the
// layout, vals(blob) gets each section from the rank that owns it.
func (r *Reducer) AllGather(vals func(*layers.Blob) []float32) error {
	if !r.sh.on {
		return nil
	}
	c := r.c
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.shm.mem == nil {
		return errShmClosed
	}
	if p := c.shm.pending; p != nil {
		if err := p.finishScatter(); err != nil {
			return err
		}
	}
	return r.gatherLocked(vals)
}

// gatherLocked is one all-gather through the result region. Called with
// opMu held.
func (r *Reducer) gatherLocked(vals func(*layers.Blob) []float32) error {
	c := r.c
	s := c.shm
	if err := c.Err(); err != nil {
		return err
	}
	sh := &r.sh
	c.shmSeq++
	seq := c.shmSeq
	atomic.StoreUint64(s.tag(c.rank), shmTag(shmOpGather, sh.total))
	atomic.StoreUint64(s.ctr(0, c.rank), seq)
	if err := c.shmWait(0, seq); err != nil {
		return err
	}
	if err := c.shmCheckTags(); err != nil {
		return err
	}
	result := s.v32[c.size]
	for i, sc := range sh.secs {
		g := sh.goff[i]
		copy(result[g+sc.Lo:g+sc.Hi], vals(sh.blobs[i])[sc.Lo:sc.Hi])
	}
	atomic.StoreUint64(s.ctr(1, c.rank), seq)
	if err := c.shmWait(1, seq); err != nil {
		return err
	}
	r.copyOthers(result, vals)
	return nil
}

// copyOthers copies the other ranks' sections of every blob from result.
func (r *Reducer) copyOthers(result []float32, vals func(*layers.Blob) []float32) {
	sh := &r.sh
	for i, b := range sh.blobs {
		v := vals(b)
		g := sh.goff[i]
		for q := 0; q < r.c.size; q++ {
			if q == r.c.rank {
				continue
			}
			lo, hi := r.sectionOf(q, i)
			copy(v[lo:hi], result[g+lo:g+hi])
		}
	}
}

package distri

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// The shared-memory data plane. When every executor runs on one host (same
// kernel boot and host name) and sees the same /dev/shm, collectives skip
// gRPC: rank 0 creates one file in /dev/shm that every executor maps, laid
// out as
//
//	header (magic, world size, slot size, host identity, counters) |
//	slot 0 | slot 1 | … | slot N-1 | result [| grad 0 | grad 1]
//
// (with two ranks, the grad regions hold their param diffs during a
// sharded update, shard.go; collectives use only the slots and result),
// and one operation on a piece of at most one slot of values is
//
//	every rank copies its piece into its slot, publishes arrive[r] = op
//	and waits until every arrive[] ≥ op;
//	rank r sums section r of the piece over all slots into result and
//	publishes done[r] = op; after every done[] ≥ op it copies the whole
//	result back.
//
// A slot is rewritten only after every done[] reached the previous
// operation (so everyone has finished reading slots; after an all-reduce
// that is already known, a sharded step does not wait for it, see
// shard.go), and result only after the arrive barrier (so everyone has
// finished copying the previous result out): two barriers per operation
// suffice. Next to its arrive counter each rank writes the operation's
// kind and length, and a mismatch fails the job instead of mixing values.
//
// Each element is summed in exactly the order the gRPC ring sums it (the
// ring's segment j, j·n/N up to (j+1)·n/N of the n values of one ring
// operation, starts at rank j and goes around the ring, the last addition
// followed by the division), so both
// planes give bit-identical results and replicas stay bit-identical.
//
// Counters are 64-bit words on their own cache lines, read and written with
// sync/atomic, which orders the plain copies around them across processes
// as well as goroutines. Waiting spins briefly, then yields, then sleeps,
// and watches the cluster's failure channel (a dead or hung executor is
// declared lost by the heartbeats) and Config.OpTimeout, so a lost peer
// never hangs the others.

const (
	shmMagic    = "COSSHM01"
	shmSlot     = 4 << 20 // bytes per rank and per piece; LeNet's 1.7 MB gradient is one piece
	shmLine     = 64      // one counter per cache line
	shmCounters = 512     // offset of the counters in the header
	shmIdentMax = 200
)

// shmPlane is one executor's mapping of the job's shared-memory file.
type shmPlane struct {
	mem      []byte
	n        int
	slot     int // bytes
	data     int // offset of slot 0
	path     string
	unlinked bool
	// v32 and v64 view the slots and the result region as values.
	v32 [][]float32
	v64 [][]float64
	// pending is the Reducer whose sharded step has arrived but not yet
	// read the slots (see shard.go); nil otherwise. Guarded by opMu.
	pending *Reducer
	// home is the Reducer whose param diffs live in the grad regions
	// (shard.go); the mapping stays while they do (until the Reducer is
	// closed), since the net uses it without any lock. Guarded by opMu.
	home *Reducer
}

// shmRegions is the number of slot-sized regions for n ranks: n slots and
// the result, and for two ranks their grad regions.
func shmRegions(n int) int {
	if n == 2 {
		return 5
	}
	return n + 1
}

// grad is rank q's grad region (two ranks; shard.go).
func (s *shmPlane) grad(q int) []float32 { return s.v32[s.n+1+q] }

// hostIdentity names this kernel instance: the boot id changes with every
// boot and differs between machines, the host name tells containers that
// share a kernel but not necessarily /dev/shm apart (a mismatch there only
// costs the fast path).
func hostIdentity() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b)) + "/" + h
	if len(id) > shmIdentMax {
		id = id[:shmIdentMax]
	}
	return id, nil
}

// shmPath names the job's file: a hash of the job token and rank 0's
// address, so concurrent jobs (and tests) never collide and the token is
// not revealed.
func shmPath(token, rank0Addr string) string {
	h := sha256.Sum256([]byte(token + "\x00" + rank0Addr))
	return "/dev/shm/cos-" + hex.EncodeToString(h[:12])
}

func shmHeaderBytes(n int) int {
	h := shmCounters + 2*n*shmLine
	return (h + 4095) &^ 4095
}

func (s *shmPlane) ctr(which, rank int) *uint64 {
	return (*uint64)(unsafe.Pointer(&s.mem[shmCounters+(which*s.n+rank)*shmLine]))
}

// tag is the word next to rank's arrive counter that names the operation
// the rank arrived for (kind and length), so that executors which disagree
// about the sequence of collectives (a bug, or ranks that stopped at
// different iterations) fail instead of mixing unrelated values.
func (s *shmPlane) tag(rank int) *uint64 {
	return (*uint64)(unsafe.Pointer(&s.mem[shmCounters+rank*shmLine+8]))
}

// Operation kinds in a tag.
const (
	shmOpSum32 = 1 + iota
	shmOpSum64
	shmOpScatter // a sharded step's reduce-scatter (shard.go)
	shmOpGather  // an all-gather of sections (shard.go)
	shmOpMean    = 8
)

func shmTag(kind uint64, n int) uint64 { return kind<<48 | uint64(n) }

// shmCheckTags, after the arrive barrier, checks that every executor
// arrived for the same operation as this one.
func (c *Cluster) shmCheckTags() error {
	s := c.shm
	mine := atomic.LoadUint64(s.tag(c.rank))
	for q := 0; q < s.n; q++ {
		if t := atomic.LoadUint64(s.tag(q)); t != mine {
			c.fail(fmt.Errorf("distri: executors disagree on the shared-memory collective: rank %d runs operation %#x, rank %d operation %#x (kind<<48 | values)", c.rank, mine, q, t))
			return c.Err()
		}
	}
	return nil
}

// region returns region r's bytes: slot r for r < n, then the result and
// the grad regions.
func (s *shmPlane) region(r int) []byte {
	off := s.data + r*s.slot
	return s.mem[off : off+s.slot : off+s.slot]
}

func shmView[T float32 | float64](b []byte) []T {
	var z T
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/int(unsafe.Sizeof(z)))
}

// shmCreate is rank 0's part: create, size (allocating the pages now, so
// that a full /dev/shm is an error here and not a SIGBUS later), map and
// write the header.
func shmCreate(path string, n int) (*shmPlane, error) {
	if !littleEndian {
		return nil, errors.New("big-endian machine")
	}
	id, err := hostIdentity()
	if err != nil {
		return nil, err
	}
	size := shmHeaderBytes(n) + shmRegions(n)*shmSlot
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := shmMapFile(f, size, n)
	if err == nil {
		mem := s.mem
		binary.LittleEndian.PutUint64(mem[8:], uint64(n))
		binary.LittleEndian.PutUint64(mem[16:], uint64(shmSlot))
		binary.LittleEndian.PutUint64(mem[24:], uint64(len(id)))
		copy(mem[64:], id)
		copy(mem, shmMagic)
		s.path = path
		return s, nil
	}
	os.Remove(path)
	return nil, err
}

// shmOpen is the other ranks' part: map rank 0's file and check that it is
// this job's and that this executor runs on the same host.
func shmOpen(path string, n int) (*shmPlane, error) {
	if !littleEndian {
		return nil, errors.New("big-endian machine")
	}
	id, err := hostIdentity()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := shmHeaderBytes(n) + shmRegions(n)*shmSlot
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("%s has %d bytes, want %d", path, st.Size(), size)
	}
	s, err := shmMapFile(f, size, n)
	if err != nil {
		return nil, err
	}
	mem := s.mem
	l := int(binary.LittleEndian.Uint64(mem[24:]))
	switch {
	case string(mem[:8]) != shmMagic:
		err = fmt.Errorf("%s is not a cos shared-memory file", path)
	case binary.LittleEndian.Uint64(mem[8:]) != uint64(n) || binary.LittleEndian.Uint64(mem[16:]) != shmSlot:
		err = fmt.Errorf("%s has another layout", path)
	case l > shmIdentMax || string(mem[64:64+l]) != id:
		err = fmt.Errorf("%s was created on another host (%q, here %q)", path, mem[64:64+min(l, shmIdentMax)], id)
	}
	if err != nil {
		s.unmap()
		return nil, err
	}
	s.path = path
	return s, nil
}

// DataPlane says how this executor's collectives travel: "shm" (shared
// memory with executors on the same host), "unix" or "tcp" (the gRPC ring
// to the next rank), or "" for a world of size 1.
func (c *Cluster) DataPlane() string {
	if c.size == 1 {
		return ""
	}
	if c.shm != nil {
		return "shm"
	}
	return c.ringVia
}

// setupShm decides, together with every other executor, whether the job
// uses the shared-memory plane: each one tries to map rank 0's file (rank 0
// created it before the rendezvous), and a SumFloat64 over the gRPC ring
// counts the failures; any failure (another host, Config.NoShm, no
// /dev/shm) leaves everyone on gRPC. Rank 0 removes the file's name once all
// have answered, so nothing is left behind whatever happens later.
func (c *Cluster) setupShm() error {
	var s *shmPlane
	if c.rank == 0 {
		s = c.shm
		c.shm = nil
	} else if !c.cfg.NoShm && shmSupported {
		var err error
		if s, err = shmOpen(shmPath(c.cfg.Token, c.peers[0].Addr), c.size); err != nil {
			s = nil
		}
	}
	vote := []float64{0}
	if s == nil {
		vote[0] = 1
	}
	err := c.SumFloat64(vote)
	if c.rank == 0 && s != nil {
		s.unlink()
	}
	if err != nil || vote[0] != 0 {
		if s != nil {
			s.unmap()
		}
		return err
	}
	c.shm = s
	return nil
}

func (s *shmPlane) unlink() {
	if !s.unlinked {
		os.Remove(s.path)
		s.unlinked = true
	}
}

// errShmClosed ends an operation interrupted by Close.
var errShmClosed = errors.New("distri: cluster closed during a collective operation")

// shmWait waits until every executor's counter `which` (0 arrive, 1 done)
// reached seq.
func (c *Cluster) shmWait(which int, seq uint64) error {
	s := c.shm
	var start time.Time
	sleep := 50 * time.Microsecond
	for spins := 0; ; spins++ {
		missing := -1
		for q := 0; q < s.n; q++ {
			if atomic.LoadUint64(s.ctr(which, q)) < seq {
				missing = q
				break
			}
		}
		if missing < 0 {
			return nil
		}
		if spins&31 != 31 {
			continue
		}
		select {
		case <-c.failed:
			return c.Err()
		case <-c.hbStop:
			return errShmClosed
		default:
		}
		if start.IsZero() {
			start = time.Now()
			continue
		}
		// Spin for the first 50 µs (the peers are usually just behind),
		// then yield for up to 2 ms, then sleep in steps of at most 250 µs
		// (late wake-ups delay every executor): a waiting executor must not
		// keep the CPU from other work for long.
		switch el := time.Since(start); {
		case el < 50*time.Microsecond:
		case el < 2*time.Millisecond:
			runtime.Gosched()
		case el > c.cfg.OpTimeout:
			c.fail(c.lost(missing, "shared-memory all-reduce operation %d timed out after %v waiting for it", seq, c.cfg.OpTimeout))
			return c.Err()
		default:
			time.Sleep(sleep)
			sleep = min(2*sleep, 250*time.Microsecond)
		}
	}
}

// shmIO is where an operation's n values come from and go back to: one
// flat buffer, or (the Reducer's buckets) consecutive parts, each a param's
// diff, so that gradients go straight to and from shared memory.
type shmIO[T float32 | float64] struct {
	flat  []T
	parts [][]T
	offs  []int // parts[i] holds values offs[i] up to offs[i]+len(parts[i])
}

func (io *shmIO[T]) size() int {
	if io.parts == nil {
		return len(io.flat)
	}
	if k := len(io.parts) - 1; k >= 0 {
		return io.offs[k] + len(io.parts[k])
	}
	return 0
}

// move copies values [p0, p0+len(sh)) between the io and sh: into sh when
// in is set, out of it otherwise.
func (io *shmIO[T]) move(sh []T, p0 int, in bool) {
	if io.parts == nil {
		if in {
			copy(sh, io.flat[p0:])
		} else {
			copy(io.flat[p0:], sh)
		}
		return
	}
	p1 := p0 + len(sh)
	for i, part := range io.parts {
		lo, hi := max(io.offs[i], p0), min(io.offs[i]+len(part), p1)
		if lo >= hi {
			continue
		}
		if in {
			copy(sh[lo-p0:hi-p0], part[lo-io.offs[i]:])
		} else {
			copy(part[lo-io.offs[i]:hi-io.offs[i]], sh[lo-p0:])
		}
	}
}

func shmViews[T float32 | float64](s *shmPlane) [][]T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(s.v32).([][]T)
	default:
		return any(s.v64).([][]T)
	}
}

// shmAllReduce all-reduces io's values through shared memory (see the top
// of this file). Called with opMu held.
func shmAllReduce[T float32 | float64](c *Cluster, io *shmIO[T], mean bool) error {
	if err := c.Err(); err != nil {
		return err
	}
	s := c.shm
	if p := s.pending; p != nil {
		// A sharded step is between its reduce-scatter and its update:
		// finish the reduction now so that the slots are free.
		if err := p.finishScatter(); err != nil {
			return err
		}
	}
	N, r, n := c.size, c.rank, io.size()
	var z T
	views := shmViews[T](s) // slots 0..N-1, then the result
	mine, result, slots := views[r], views[N], views[:N]
	capElems := len(mine)
	// The ring cuts a buffer into operations of rp elements and each of
	// those into N segments; the summation order follows the segment.
	rp := c.opPiece(int(unsafe.Sizeof(z)))
	for p0 := 0; p0 < n; p0 += capElems {
		p1 := min(p0+capElems, n)
		m := p1 - p0
		c.shmSeq++
		seq := c.shmSeq
		// The previous operation may have been a sharded step, which does
		// not wait until everyone has read the slots (see shard.go).
		if err := c.shmWait(1, seq-1); err != nil {
			return err
		}
		io.move(mine[:m], p0, true)
		kind := uint64(shmOpSum32)
		if unsafe.Sizeof(z) == 8 {
			kind = shmOpSum64
		}
		if mean {
			kind |= shmOpMean
		}
		atomic.StoreUint64(s.tag(r), shmTag(kind, m))
		atomic.StoreUint64(s.ctr(0, r), seq)
		if err := c.shmWait(0, seq); err != nil {
			return err
		}
		if err := c.shmCheckTags(); err != nil {
			return err
		}
		// This rank's section of the piece, cut where the ring's segments
		// change (each segment has its own summation order).
		lo, hi := shmSection(r, N, m)
		for g := p0 + lo; g < p0+hi; {
			j, end := ringRun(g, n, rp, N)
			end = min(end, p0+hi)
			shmSum(slots, result[g-p0:end-p0], g-p0, j, mean)
			g = end
		}
		atomic.StoreUint64(s.ctr(1, r), seq)
		if err := c.shmWait(1, seq); err != nil {
			return err
		}
		io.move(result[:m], p0, false)
	}
	return nil
}

// shmSection is rank r's section [lo, hi) of an operation of m values
// among N ranks: the values it sums.
func shmSection(r, N, m int) (lo, hi int) {
	return int(int64(r) * int64(m) / int64(N)), int(int64(r+1) * int64(m) / int64(N))
}

// ringRun returns, for value g of a ring operation of n values cut into
// pieces of rp, the rank whose value the gRPC ring takes first (its
// segment's index) and the end of that segment: values g up to end are
// summed in the same order.
func ringRun(g, n, rp, N int) (first, end int) {
	ps := g / rp * rp
	pn := min(rp, n-ps)
	segLo := func(j int) int { return ps + int(int64(j)*int64(pn)/int64(N)) }
	j := int(int64(g-ps) * int64(N) / int64(pn))
	for j > 0 && segLo(j) > g {
		j--
	}
	for j < N-1 && segLo(j+1) <= g {
		j++
	}
	return j, segLo(j + 1)
}

// shmSum writes into o the sum of slots[*][lo:lo+len(o)] taken in ring
// order from rank first, divided by the world size when mean is set, with
// the gRPC ring's rounding (every addition rounded to T, then the
// division).
func shmSum[T float32 | float64](slots [][]T, o []T, lo, first int, mean bool) {
	N := len(slots)
	hi := lo + len(o)
	a := slots[first][lo:hi]
	b := slots[(first+1)%N][lo:hi]
	b = b[:len(o)]
	a = a[:len(o)]
	last := N == 2
	switch {
	case last && mean:
		// x/2 and x*0.5 are the same correctly rounded value.
		for i := range o {
			o[i] = (a[i] + b[i]) * 0.5
		}
		return
	case last:
		for i := range o {
			o[i] = a[i] + b[i]
		}
		return
	}
	for i := range o {
		o[i] = a[i] + b[i]
	}
	for t := 2; t < N-1; t++ {
		x := slots[(first+t)%N][lo:hi]
		x = x[:len(o)]
		for i := range o {
			o[i] += x[i]
		}
	}
	x := slots[(first+N-1)%N][lo:hi]
	x = x[:len(o)]
	switch {
	case !mean:
		for i := range o {
			o[i] += x[i]
		}
	case N&(N-1) == 0:
		// Dividing by a power of two is multiplying by its exact inverse.
		inv := 1 / T(N)
		for i := range o {
			o[i] = (o[i] + x[i]) * inv
		}
	default:
		d := T(N)
		for i := range o {
			o[i] = (o[i] + x[i]) / d
		}
	}
}

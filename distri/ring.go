package distri

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/cos-project/cos/distri/distripb"
)

// The ring all-reduce. With n executors and a buffer cut into n segments,
// rank r sends to rank r+1 and receives from rank r-1:
//
//	reduce-scatter, step s = 0..n-2: send segment r-s, receive segment r-s-1
//	                                 and add it into the local copy;
//	all-gather,     step t = 0..n-2: send segment r+1-t, receive segment r-t
//	                                 and overwrite the local copy.
//
// The segment received at one step is exactly the one sent at the next, so
// every received chunk is processed and forwarded at once: segments are
// further cut into chunks of Config.ChunkBytes and the ring pipelines them.
// Each segment's final value is computed once, by the rank that receives it
// at the last reduce-scatter step (which also divides by n), and then only
// copied around the ring, so every executor ends with bit-identical values.

// sendQueueCap bounds the send requests of one operation; operations are
// split so that one never needs more (see opPiece), which keeps a full
// queue from ever blocking the receive loop (a cycle of such blocks around
// the ring would deadlock).
const sendQueueCap = 1024

type sendKind uint8

const (
	sendData sendKind = iota
	sendFlush
	sendClose
)

type sendReq struct {
	kind sendKind
	op   uint64
	step uint32
	off  int
	n    int
	src  opBuf
}

// opBuf is the buffer of one collective operation: float32 (gradients) or
// float64 (SumFloat64).
type opBuf interface {
	size() int
	elemBytes() int
	// add adds the encoded values into [off, off+len); when div > 0 the
	// result is then divided by div.
	add(off int, data []byte, div int)
	set(off int, data []byte)
	// bytes returns the encoded values of [off, off+n), as a view when the
	// machine is little-endian, else encoded into scratch.
	bytes(off, n int, scratch []byte) []byte
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

type f32buf struct{ b []float32 }

func (f *f32buf) size() int      { return len(f.b) }
func (f *f32buf) elemBytes() int { return 4 }

// view reinterprets little-endian bytes as float32 without copying when the
// machine's byte order and the slice's alignment allow it.
func f32view(data []byte) []float32 {
	if littleEndian && len(data) >= 4 && uintptr(unsafe.Pointer(&data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), len(data)/4)
	}
	return nil
}

func (f *f32buf) add(off int, data []byte, div int) {
	dst := f.b[off : off+len(data)/4]
	src := f32view(data)
	switch {
	case src != nil && div > 0:
		d := float32(div)
		src = src[:len(dst)]
		for i := range dst {
			dst[i] = (dst[i] + src[i]) / d
		}
	case src != nil:
		src = src[:len(dst)]
		for i := range dst {
			dst[i] += src[i]
		}
	default:
		for i := range dst {
			dst[i] += math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		if div > 0 {
			d := float32(div)
			for i := range dst {
				dst[i] /= d
			}
		}
	}
}

func (f *f32buf) set(off int, data []byte) {
	dst := f.b[off : off+len(data)/4]
	if src := f32view(data); src != nil {
		copy(dst, src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
}

func (f *f32buf) bytes(off, n int, scratch []byte) []byte {
	if n == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&f.b[off])), 4*n)
	}
	out := scratch[:4*n]
	for i, v := range f.b[off : off+n] {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

type f64buf struct{ b []float64 }

func (f *f64buf) size() int      { return len(f.b) }
func (f *f64buf) elemBytes() int { return 8 }

func (f *f64buf) add(off int, data []byte, div int) {
	dst := f.b[off : off+len(data)/8]
	for i := range dst {
		dst[i] += math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	if div > 0 {
		for i := range dst {
			dst[i] /= float64(div)
		}
	}
}

func (f *f64buf) set(off int, data []byte) {
	dst := f.b[off : off+len(data)/8]
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
}

func (f *f64buf) bytes(off, n int, scratch []byte) []byte {
	out := scratch[:8*n]
	for i, v := range f.b[off : off+n] {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(v))
	}
	return out
}

// connectRing opens the stream to the successor and starts its sender.
func (c *Cluster) connectRing(ctx interface {
	Done() <-chan struct{}
	Err() error
}) error {
	next := (c.rank + 1) % c.size
	addr := c.peers[next].Addr
	c.ringVia = "tcp"
	if u := c.peers[next].UnixAddr; u != "" {
		// Reachable only from the same host and network namespace: try it.
		if probe, err := net.DialTimeout("unix", "@"+u, time.Second); err == nil {
			probe.Close()
			addr = "unix-abstract:" + u
			c.ringVia = "unix"
		}
	}
	conn, err := c.dial(addr)
	if err != nil {
		return err
	}
	sctx := metadata.AppendToOutgoingContext(c.ctx, rankKey, strconv.Itoa(c.rank))
	st, err := pb.NewExecutorClient(conn).Ring(sctx, grpc.WaitForReady(true), grpc.CallContentSubtype(rawCodecName))
	if err != nil {
		return fmt.Errorf("distri: rank %d: ring stream to rank %d on %s: %v", c.rank, next, c.peers[next].Host, errText(err))
	}
	c.ringOut = st
	go c.sender(st)
	go func() {
		// The receiver answers once, when the stream ends: an empty ack
		// after a graceful close, otherwise an error.
		ack, err := st.Recv()
		if err == nil && ack.Error != "" {
			err = fmt.Errorf("%s", ack.Error)
		}
		if err != nil && !c.closing.Load() {
			select {
			case c.sendErr <- err:
			default:
			}
		}
		close(c.ackDone)
	}()
	return nil
}

func (c *Cluster) sender(st pb.Executor_RingClient) {
	defer close(c.senderDone)
	scratch := make([]byte, c.cfg.ChunkBytes)
	msg := &pb.Chunk{}
	broken := false
	for {
		var req sendReq
		select {
		case req = <-c.sendQ:
		case <-c.ctx.Done():
			return
		}
		switch req.kind {
		case sendFlush:
			c.flushed <- struct{}{}
		case sendClose:
			st.CloseSend()
			return
		case sendData:
			if broken {
				continue
			}
			msg.Op, msg.Step, msg.Offset = req.op, req.step, uint64(req.off)
			msg.Data = req.src.bytes(req.off, req.n, scratch)
			err := st.Send(msg)
			msg.Data = nil
			if err != nil {
				broken = true
				select {
				case c.sendErr <- err:
				default:
				}
			}
		}
	}
}

// closeRing ends the outbound stream after everything queued is sent and
// waits (bounded) for the successor to acknowledge it read it all.
func (c *Cluster) closeRing() {
	if c.ringOut == nil {
		return
	}
	select {
	case c.sendQ <- sendReq{kind: sendClose}:
	case <-c.ctx.Done():
		return
	}
	t := time.NewTimer(c.cfg.FailTimeout)
	defer t.Stop()
	select {
	case <-c.ackDone:
	case <-c.failed:
	case <-t.C:
	}
}

// opPiece is the largest number of elements one ring operation handles, so
// that its send requests fit in sendQueueCap.
func (c *Cluster) opPiece(elemBytes int) int {
	chunk := c.cfg.ChunkBytes / elemBytes
	perSeg := (sendQueueCap - 8) / (2*c.size - 1)
	return c.size * perSeg * chunk
}

// AllReduceMean replaces buf, on every executor, by the element-wise mean of
// all executors' buf (sum, then division by the world size). All executors
// end with bit-identical values. buf must have the same length everywhere.
func (c *Cluster) AllReduceMean(buf []float32) error { return c.allReduce32(buf, true) }

// AllReduceSum replaces buf, on every executor, by the element-wise sum of
// all executors' buf; bit-identical everywhere.
func (c *Cluster) AllReduceSum(buf []float32) error { return c.allReduce32(buf, false) }

func (c *Cluster) allReduce32(buf []float32, mean bool) error {
	return reduceFlat(c, buf, &c.f32.b, &c.f32, 4, mean)
}

// reduceFlat all-reduces buf through shared memory when that plane is on,
// else over the gRPC ring in pieces of opPiece values, handing each piece to
// the preallocated op buffer ob through its slice field *slot (so nothing
// is allocated per call).
func reduceFlat[T float32 | float64](c *Cluster, buf []T, slot *[]T, ob opBuf, elemBytes int, mean bool) error {
	if c.size == 1 {
		return nil
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.shm != nil {
		if c.shm.mem == nil {
			return errShmClosed
		}
		io := shmIO[T]{flat: buf}
		return shmAllReduce(c, &io, mean)
	}
	piece := c.opPiece(elemBytes)
	for start := 0; start < len(buf); start += piece {
		*slot = buf[start:min(start+piece, len(buf))]
		err := c.runOp(ob, mean)
		*slot = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// allReduceParts is AllReduceMean over the concatenation of parts (parts[i]
// starting at offs[i]) when the shared-memory plane is on: the values go
// straight between the parts and shared memory. It reports false when the
// plane is off; the caller then reduces a flat copy.
func (c *Cluster) allReduceParts(parts [][]float32, offs []int) (bool, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.shm == nil {
		return false, nil
	}
	if c.shm.mem == nil {
		return true, errShmClosed
	}
	io := shmIO[float32]{parts: parts, offs: offs}
	return true, shmAllReduce(c, &io, true)
}

// SumFloat64 replaces vals, on every executor, by the element-wise sum over
// all executors (float64, for test outputs and losses); bit-identical
// everywhere.
func (c *Cluster) SumFloat64(vals []float64) error {
	return reduceFlat(c, vals, &c.f64.b, &c.f64, 8, false)
}

// Barrier returns once every executor has called it.
func (c *Cluster) Barrier() error {
	var one [1]float64
	return c.SumFloat64(one[:])
}

// runOp runs one ring all-reduce over b. Called with opMu held.
func (c *Cluster) runOp(b opBuf, mean bool) error {
	if err := c.Err(); err != nil {
		return err
	}
	N, r, n := c.size, c.rank, b.size()
	c.opSeq++
	op := c.opSeq
	if n == 0 {
		return nil // every executor skips it alike
	}
	prev, next := (r-1+N)%N, (r+1)%N
	chunk := c.cfg.ChunkBytes / b.elemBytes()
	segLo := func(j int) int { return int(int64(j) * int64(n) / int64(N)) }
	mod := func(x int) int { return ((x % N) + N) % N }
	lastStep := 2*N - 3
	recvSeg := func(s int) int {
		if s < N-1 {
			return mod(r - s - 1)
		}
		return mod(r - (s - (N - 1)))
	}
	nchunks := func(j int) int {
		l := segLo(j+1) - segLo(j)
		return (l + chunk - 1) / chunk
	}
	enqueue := func(step, lo, hi int) {
		for off := lo; off < hi; off += chunk {
			c.sendQ <- sendReq{kind: sendData, op: op, step: uint32(step), off: off, n: min(chunk, hi-off), src: b}
		}
	}
	expected := 0
	for s := 0; s <= lastStep; s++ {
		expected += nchunks(recvSeg(s))
	}
	enqueue(0, segLo(r), segLo(r+1))

	// Cursor over the chunks we expect, in stream order.
	step := 0
	seg := recvSeg(0)
	cur, hi := segLo(seg), segLo(seg+1)
	advance := func() {
		for cur >= hi && step < lastStep {
			step++
			seg = recvSeg(step)
			cur, hi = segLo(seg), segLo(seg+1)
		}
	}
	advance()

	c.opTimer.Reset(c.cfg.OpTimeout)
	defer c.opTimer.Stop()
	es := b.elemBytes()
	for got := 0; got < expected; got++ {
		var m *rawChunk
		select {
		case m = <-c.ringIn:
		case err := <-c.ringInErr:
			return c.suspect(prev, "ring stream from it broke: %v", errText(err))
		case err := <-c.sendErr:
			return c.suspect(next, "ring stream to it broke: %v", errText(err))
		case <-c.failed:
			return c.Err()
		case <-c.opTimer.C:
			c.fail(c.lost(prev, "all-reduce operation %d timed out after %v waiting for its data", op, c.cfg.OpTimeout))
			return c.Err()
		}
		want := min(chunk, hi-cur)
		if m.op != op || int(m.step) != step || m.offset != uint64(cur) || len(m.data) != want*es {
			c.fail(fmt.Errorf("distri: rank %d: ring protocol error from rank %d: got operation %d step %d offset %d (%d bytes), want operation %d step %d offset %d (%d bytes); executors disagree on the sequence or sizes of collective operations (different nets?)",
				r, prev, m.op, m.step, m.offset, len(m.data), op, step, cur, want*es))
			m.release()
			return c.Err()
		}
		switch {
		case step < N-2:
			b.add(cur, m.data, 0)
		case step == N-2:
			div := 0
			if mean {
				div = N
			}
			b.add(cur, m.data, div)
		default:
			b.set(cur, m.data)
		}
		m.release()
		chunkPool.Put(m)
		if step < lastStep {
			c.sendQ <- sendReq{kind: sendData, op: op, step: uint32(step + 1), off: cur, n: want, src: b}
		}
		cur += want
		advance()
	}
	// The sender reads b lazily: the operation is over only when it has
	// handed every chunk to gRPC.
	c.sendQ <- sendReq{kind: sendFlush}
	select {
	case <-c.flushed:
	case err := <-c.sendErr:
		return c.suspect(next, "ring stream to it broke: %v", errText(err))
	case <-c.failed:
		return c.Err()
	case <-c.opTimer.C:
		c.fail(c.lost(next, "all-reduce operation %d timed out after %v sending to it", op, c.cfg.OpTimeout))
		return c.Err()
	}
	return nil
}

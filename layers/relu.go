package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("ReLU", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &ReLU{lp: p, slope: p.GetReluParam().GetNegativeSlope(), threads: threadsOf(ctx)}, nil
	})
}

// ReLU is Caffe's rectifier, max(0, x) + negative_slope*min(0, x). It may
// run in place (top and bottom the same blob): Backward then reads the
// output in place of the input, whose sign is the same for any
// non-negative slope, exactly as Caffe does.
//
// Large blobs are split in chunks over Context.Threads goroutines.
type ReLU struct {
	lp      *caffepb.LayerParameter
	slope   float32
	threads int
	job     reluJob
}

// reluParMin is the element count below which ReLU runs on the calling
// goroutine: a helper costs microseconds to wake, LeNet's relu1 takes ten.
const reluParMin = 1 << 16

// reluJob is one Forward or Backward call, a task per chunk.
type reluJob struct {
	l            *ReLU
	backward     bool
	x, y, dy, dx []float32
	tasks        int
}

func (j *reluJob) runTask(_, t int) {
	n := len(j.x)
	lo, hi := t*n/j.tasks, (t+1)*n/j.tasks
	if j.backward {
		reluBackward(j.x[lo:hi], j.dy[lo:hi], j.dx[lo:hi], j.l.slope)
	} else {
		reluForward(j.x[lo:hi], j.y[lo:hi], j.l.slope)
	}
}

// run applies the job in chunks when it is large enough.
func (l *ReLU) run(j reluJob) {
	parts := effectiveThreads(l.threads)
	if parts < 2 || len(j.x) < reluParMin {
		j.tasks = 1
		j.runTask(0, 0)
		return
	}
	l.job = j
	l.job.tasks = 4 * parts
	runParallel(&l.job, parts, l.job.tasks)
	l.job = reluJob{}
}

// Type returns "ReLU".
func (l *ReLU) Type() string { return "ReLU" }

// Params returns nil: ReLU has no learnable blobs.
func (l *ReLU) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *ReLU) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *ReLU) Reshape(bottom, top []*Blob) error {
	if top[0] != bottom[0] {
		top[0].ReshapeLike(bottom[0])
	}
	return nil
}

// Forward applies the rectifier element-wise, without branches (see
// reluForward): a branch on the sign of real activations mispredicts half
// the time.
func (l *ReLU) Forward(bottom, top []*Blob) error {
	x := bottom[0].Data[:bottom[0].Count()]
	l.run(reluJob{l: l, x: x, y: top[0].Data[:len(x)]})
	return nil
}

// reluForward is Caffe's max(v, 0) + slope*min(v, 0), which compiles
// without branches. (A bit-select form was no faster: at CIFAR-10's sizes
// the loop is bound by memory, not instructions.)
func reluForward(x, y []float32, s float32) {
	if s == 0 {
		reluForward0(asBits(x), asBits(y))
		return
	}
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0) + s*min(v, 0)
	}
}

// reluForward0 is reluForward for slope 0 (every ReLU of LeNet and
// CIFAR-10) on the floats' bits: a positive input is kept and any other
// becomes +0 — exactly what max(v, 0) + 0*min(v, 0) gives — except -Inf
// and NaNs (all exponent bits set, sign set or not), where the formula's
// NaN is computed by the formula itself, off the hot path.
func reluForward0(x, y []uint32) {
	y = y[:len(x)]
	for i, b := range x {
		if b&0x7f800000 == 0x7f800000 && b != 0x7f800000 {
			v := math.Float32frombits(b)
			y[i] = math.Float32bits(max(v, 0) + 0*min(v, 0))
			continue
		}
		y[i] = b & reluPosMask(b)
	}
}

// reluPosMask is all ones when the float with bits xb is > 0, else 0.
func reluPosMask(xb uint32) uint32 {
	return uint32((int64(uint64(xb-1)) - 0x7f800000) >> 63)
}

// Backward passes the gradient where the input (or, in place, the output)
// is positive and scales it by negative_slope elsewhere.
func (l *ReLU) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(propagateDown) == 0 || !propagateDown[0] {
		return
	}
	x := bottom[0].Data[:bottom[0].Count()]
	l.run(reluJob{l: l, backward: true, x: x, dy: top[0].Diff[:len(x)], dx: bottom[0].Diff[:len(x)]})
}

func reluBackward(x, dy, dx []float32, slope float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	sBits := math.Float32bits(slope)
	for i, v := range x {
		dx[i] = dy[i] * math.Float32frombits(reluGainBits(math.Float32bits(v), sBits))
	}
}

// reluGainBits returns the bits of 1 when the float with bits xb is > 0,
// else sb (the slope's bits), without a branch: x > 0 exactly when its bits
// lie in [1, 0x7f800000] (positive, not zero, not NaN), tested by the sign
// of a 64-bit subtraction.
func reluGainBits(xb, sb uint32) uint32 {
	mask := reluPosMask(xb)
	return (0x3f800000 & mask) | (sb &^ mask)
}

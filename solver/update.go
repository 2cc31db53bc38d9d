package solver

import (
	"fmt"
	"math"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Method is a solver type: Caffe's update rule.
type Method int

// The solver types, named by Caffe's `type:` strings.
const (
	SGD Method = iota
	Nesterov
	AdaGrad
	RMSProp
	AdaDelta
	Adam
)

var methodNames = [...]string{"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"}

// String returns Caffe's type string.
func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// historySets is how many history blobs per parameter the method keeps
// (AdaDelta and Adam keep a second set, stored after the first in a
// .solverstate, as Caffe stores them).
func (m Method) historySets() int {
	if m == AdaDelta || m == Adam {
		return 2
	}
	return 1
}

// MethodOf returns the solver type of sp: its `type:` string, or the
// deprecated solver_type enum when type is not set (the loader may already
// have upgraded it). Setting both is an error, as in Caffe's upgrade.
func MethodOf(sp *caffepb.SolverParameter) (Method, error) {
	if sp.SolverType != nil {
		m := Method(sp.GetSolverType())
		if m < SGD || m > Adam {
			return 0, fmt.Errorf("unknown solver_type %d", int(sp.GetSolverType()))
		}
		if sp.Type != nil && sp.GetType() != m.String() {
			return 0, fmt.Errorf("both the deprecated solver_type (%s) and type (%q) are set; keep only type", sp.GetSolverType(), sp.GetType())
		}
		return m, nil
	}
	t := sp.GetType() // defaults to "SGD"
	for i, n := range methodNames {
		if t == n {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("unknown solver type %q (one of SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)", t)
}

// regKind is the regularization applied to one parameter.
type regKind int

const (
	regNone regKind = iota
	regL2
	regL1
)

// updateParams are the per-step, per-parameter inputs of the update rule.
type updateParams struct {
	method    Method
	momentum  float32 // SGD/Nesterov momentum, AdaDelta decay, Adam beta1
	momentum2 float32 // Adam beta2
	delta     float32 // AdaGrad/RMSProp/AdaDelta/Adam epsilon
	rmsDecay  float32

	// clipScale and accumScale multiply the raw gradient in that order
	// (Caffe scales by the clipping factor, then by 1/iter_size); 1 means
	// the step is off, and multiplying by 1 is exact in float32.
	clipScale  float32
	accumScale float32

	reg        regKind
	localDecay float32 // weight_decay * decay_mult
	localRate  float32 // rate * lr_mult
	adamScale  float32 // local_rate * Adam's bias correction
}

// adamCorrection is Caffe's sqrt(1 - beta2^t) / (1 - beta1^t) with t the
// 1-based step; pow(float, int) promotes to double in C++, so this is
// computed in double and rounded once.
func adamCorrection(beta1, beta2 float32, t int) float32 {
	b1 := math.Pow(float64(beta1), float64(t))
	b2 := math.Pow(float64(beta2), float64(t))
	return float32(math.Sqrt(float64(float32(1))-b2) / (float64(float32(1)) - b1))
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// applyUpdate performs, in one pass over a parameter, what Caffe does in
// several: scale the gradient (clipping, 1/iter_size), add the weight decay
// term, compute the update value with the method's history (h1, and h2 for
// AdaDelta/Adam), leave the update value in diff (as Caffe does, so
// snapshot_diff writes what Caffe writes) and subtract it from data (Caffe's
// Net::Update). Every operation is rounded to float32 in Caffe's order: the
// float32 conversions around products forbid the compiler to fuse them into
// the following addition (it may with GOAMD64=v3 or on arm64), which would
// round once instead of twice and make the result depend on the build.
//
// SGD and Nesterov without weight decay or with L2 run 16 lanes at a time
// when the CPU has AVX-512 (momentumUpdateAVX512), with the bits of
// applyUpdateScalar.
func applyUpdate(u *updateParams, data, diff, h1, h2 []float32) {
	if updateAVX512 && (u.method == SGD || u.method == Nesterov) && (u.reg == regNone || u.reg == regL2) {
		applyMomentumVec(u, data, diff, h1)
		return
	}
	applyUpdateScalar(u, data, diff, h1, h2)
}

// momentumMode bits select momentumUpdateAVX512's loop.
const (
	momentumNesterov = 1 << iota
	momentumL2
)

// applyMomentumVec is applyUpdateScalar's SGD/Nesterov case for regNone
// and regL2 on the AVX-512 kernel.
func applyMomentumVec(u *updateParams, data, diff, h1 []float32) {
	n := len(data)
	diff = diff[:n]
	h1 = h1[:n]
	if n == 0 {
		return
	}
	mode := 0
	if u.method == Nesterov {
		mode |= momentumNesterov
	}
	if u.reg == regL2 {
		mode |= momentumL2
	}
	mom := u.momentum
	momentumUpdateAVX512(&data[0], &diff[0], &h1[0], n, mode, u.clipScale, u.accumScale,
		u.localDecay, u.localRate, mom, float32(1)+mom, -mom)
}

// applyUpdateScalar is applyUpdate one element at a time: every method,
// and the reference the vector kernel is tested against.
func applyUpdateScalar(u *updateParams, data, diff, h1, h2 []float32) {
	n := len(data)
	diff = diff[:n]
	h1 = h1[:n]
	cs, as := u.clipScale, u.accumScale
	reg, dec := u.reg, u.localDecay
	lr, mom := u.localRate, u.momentum
	// grad computes the normalized, regularized gradient of element i. It is
	// a closure over loop invariants; the compiler inlines it.
	grad := func(i int) float32 {
		g := float32(diff[i] * cs * as)
		switch reg {
		case regL2:
			g = float32(dec*data[i]) + g
		case regL1:
			var s float32
			if data[i] > 0 {
				s = 1
			} else if data[i] < 0 {
				s = -1
			}
			g = float32(dec*s) + g
		}
		return g
	}
	switch u.method {
	case SGD:
		for i := range data {
			g := grad(i)
			h := float32(lr*g) + float32(mom*h1[i])
			h1[i] = h
			diff[i] = h
			data[i] -= h
		}
	case Nesterov:
		onePlus := float32(1) + mom
		for i := range data {
			g := grad(i)
			prev := h1[i]
			h := float32(lr*g) + float32(mom*h1[i])
			h1[i] = h
			v := float32(onePlus*h) + float32(-mom*prev)
			diff[i] = v
			data[i] -= v
		}
	case AdaGrad:
		dl := u.delta
		for i := range data {
			g := grad(i)
			h := float32(g*g) + h1[i]
			h1[i] = h
			v := lr * (g / (sqrt32(h) + dl))
			diff[i] = v
			data[i] -= v
		}
	case RMSProp:
		dl, rd := u.delta, u.rmsDecay
		oneMinus := float32(1) - rd
		for i := range data {
			g := grad(i)
			h := float32(oneMinus*float32(g*g)) + float32(rd*h1[i])
			h1[i] = h
			v := lr * (g / (sqrt32(h) + dl))
			diff[i] = v
			data[i] -= v
		}
	case AdaDelta:
		h2 = h2[:n]
		dl := u.delta
		oneMinus := float32(1) - mom
		for i := range data {
			g := grad(i)
			hg := float32(oneMinus*float32(g*g)) + float32(mom*h1[i])
			h1[i] = hg
			r := sqrt32((dl + h2[i]) / (dl + hg))
			g *= r
			h2[i] = float32(oneMinus*float32(g*g)) + float32(mom*h2[i])
			v := lr * g
			diff[i] = v
			data[i] -= v
		}
	case Adam:
		h2 = h2[:n]
		b2 := u.momentum2
		dl, sc := u.delta, u.adamScale
		oneMinus1 := float32(1) - mom
		oneMinus2 := float32(1) - b2
		for i := range data {
			g := grad(i)
			m := float32(oneMinus1*g) + float32(mom*h1[i])
			h1[i] = m
			v2 := float32(oneMinus2*float32(g*g)) + float32(b2*h2[i])
			h2[i] = v2
			v := sc * (m / (sqrt32(v2) + dl))
			diff[i] = v
			data[i] -= v
		}
	}
}

// parallelUpdate spreads one step's update over the layers' worker pool:
// every param is cut into chunks of updChunk elements and the chunks are
// claimed by whichever thread is free. The update is element-wise, so the
// result is bit-identical whatever the thread count or the split.
type parallelUpdate struct {
	params []updateSlot
	chunks []updChunk
	total  int
	pool   layers.Parallel
	// red is set for a sharded step: each chunk of a param with a section
	// is first averaged by red (into the diff, which the update then reads
	// while it is in cache) and its new weights reported after.
	red ShardedReducer
}

// updateSlot is one param's update inputs for the current step.
type updateSlot struct {
	u                  updateParams
	data, diff, h1, h2 []float32
	// sec is the param's section in a sharded step (-1: none); data etc.
	// then start at element off of the blob.
	sec, off int
}

// updChunk is elements [lo, hi) of param p.
type updChunk struct{ p, lo, hi int }

// updChunkLen is the chunk length: large enough that claiming a chunk costs
// little next to updating it, small enough that LeNet's ip1 weights
// (400,000) spread evenly over two threads.
const updChunkLen = 1 << 14

// updParMin is the parameter count below which the update runs on the
// calling goroutine (waking a helper costs microseconds).
const updParMin = 1 << 16

func (pu *parallelUpdate) prepare(n int) {
	if len(pu.params) != n {
		pu.params = make([]updateSlot, n)
		pu.chunks = pu.chunks[:0]
	}
}

// add records param i's inputs; the chunk list is rebuilt only when a
// param's size changed (never, once training runs).
func (pu *parallelUpdate) add(i int, u *updateParams, data, diff, h1, h2 []float32) {
	sl := &pu.params[i]
	if len(sl.data) != len(data) {
		pu.chunks = pu.chunks[:0] // rebuilt by run
	}
	*sl = updateSlot{u: *u, data: data, diff: diff, h1: h1, h2: h2, sec: -1}
}

func (pu *parallelUpdate) run(threads int) {
	if len(pu.chunks) == 0 {
		pu.total = 0
		for i, sl := range pu.params {
			n := len(sl.data)
			pu.total += n
			for lo := 0; lo < n; lo += updChunkLen {
				pu.chunks = append(pu.chunks, updChunk{i, lo, min(n, lo+updChunkLen)})
			}
		}
	}
	if pu.total < updParMin || threads == 1 {
		if pu.red != nil {
			// Chunk by chunk, so that the averaged diff and the new weights
			// are still in cache for the update and the copy out.
			for t := range pu.chunks {
				pu.RunTask(0, t)
			}
			return
		}
		for _, sl := range pu.params {
			applyUpdate(&sl.u, sl.data, sl.diff, sl.h1, sl.h2)
		}
		return
	}
	pu.pool.Run(pu, threads, len(pu.chunks))
}

// RunTask updates one chunk.
func (pu *parallelUpdate) RunTask(_, t int) {
	c := pu.chunks[t]
	sl := &pu.params[c.p]
	var h2 []float32
	if sl.h2 != nil {
		h2 = sl.h2[c.lo:c.hi]
	}
	if pu.red != nil && sl.sec >= 0 {
		pu.red.ReduceSection(sl.sec, sl.off+c.lo, sl.off+c.hi)
	}
	applyUpdate(&sl.u, sl.data[c.lo:c.hi], sl.diff[c.lo:c.hi], sl.h1[c.lo:c.hi], h2)
	if pu.red != nil && sl.sec >= 0 {
		pu.red.UpdatedSection(sl.sec, sl.off+c.lo, sl.off+c.hi)
	}
}

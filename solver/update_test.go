package solver

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Each method on a one-element param (data 1, gradient 0.5 every step) for
// three steps, against values worked out by hand from Caffe's update rules.
func TestUpdateHandComputed(t *testing.T) {
	cases := []struct {
		m                  Method
		lr, mom, delta, rd float32
		want               [3]float64
	}{
		// h = 0.1*0.5 + 0.9h: 0.05, 0.095, 0.1355.
		{SGD, 0.1, 0.9, 1e-8, 0.99, [3]float64{0.95, 0.855, 0.7195}},
		// step = 1.9h - 0.9h_prev: 0.095, 0.1355, 0.17195.
		{Nesterov, 0.1, 0.9, 1e-8, 0.99, [3]float64{0.905, 0.7695, 0.59755}},
		// h = 0.25, 0.5, 0.75; step = 0.1*0.5/sqrt(h).
		{AdaGrad, 0.1, 0, 1e-8, 0.99, [3]float64{0.9, 0.829289325, 0.771554299}},
		// h = 0.025, 0.0475, 0.06775 with rms_decay 0.9.
		{RMSProp, 0.1, 0, 1e-8, 0.9, [3]float64{0.683772254, 0.454356531, 0.26226185}},
		{AdaDelta, 1, 0.95, 1e-6, 0.99, [3]float64{0.995528043, 0.990999118, 0.986431658}},
		// Bias-corrected Adam with a constant gradient steps by lr exactly.
		{Adam, 0.01, 0.9, 1e-8, 0.99, [3]float64{0.99, 0.98, 0.97}},
	}
	for _, c := range cases {
		t.Run(c.m.String(), func(t *testing.T) {
			data := []float32{1}
			diff := []float32{0}
			h1, h2 := []float32{0}, []float32{0}
			for step := 0; step < 3; step++ {
				diff[0] = 0.5
				u := updateParams{method: c.m, momentum: c.mom, momentum2: 0.999, delta: c.delta,
					rmsDecay: c.rd, clipScale: 1, accumScale: 1, localRate: c.lr}
				u.adamScale = c.lr * adamCorrection(c.mom, 0.999, step+1)
				applyUpdate(&u, data, diff, h1, h2)
				if math.Abs(float64(data[0])-c.want[step]) > 2e-6 {
					t.Fatalf("step %d: data = %.9g, want %.9g", step+1, data[0], c.want[step])
				}
				// Caffe leaves the update value in diff.
				prev := 1.0
				if step > 0 {
					prev = c.want[step-1]
				}
				if math.Abs(float64(diff[0])-(prev-c.want[step])) > 2e-6 {
					t.Fatalf("step %d: diff = %.9g, want the update %.9g", step+1, diff[0], prev-c.want[step])
				}
			}
		})
	}
}

// refStep is Caffe's sequence of operations for one param in float64,
// written independently of the fused loop: normalize, regularize, update.
func refStep(m Method, hp updateParams, l1 bool, data, diff, h1, h2 []float64, t int) {
	for i := range data {
		g := diff[i] * float64(hp.clipScale) * float64(hp.accumScale)
		if hp.localDecay != 0 {
			if l1 {
				s := 0.0
				if data[i] > 0 {
					s = 1
				} else if data[i] < 0 {
					s = -1
				}
				g += float64(hp.localDecay) * s
			} else {
				g += float64(hp.localDecay) * data[i]
			}
		}
		lr, mom, dl := float64(hp.localRate), float64(hp.momentum), float64(hp.delta)
		var v float64
		switch m {
		case SGD:
			h1[i] = lr*g + mom*h1[i]
			v = h1[i]
		case Nesterov:
			prev := h1[i]
			h1[i] = lr*g + mom*h1[i]
			v = (1+mom)*h1[i] - mom*prev
		case AdaGrad:
			h1[i] += g * g
			v = lr * g / (math.Sqrt(h1[i]) + dl)
		case RMSProp:
			rd := float64(hp.rmsDecay)
			h1[i] = (1-rd)*g*g + rd*h1[i]
			v = lr * g / (math.Sqrt(h1[i]) + dl)
		case AdaDelta:
			h1[i] = (1-mom)*g*g + mom*h1[i]
			g *= math.Sqrt((dl + h2[i]) / (dl + h1[i]))
			h2[i] = (1-mom)*g*g + mom*h2[i]
			v = lr * g
		case Adam:
			b2 := float64(hp.momentum2)
			h1[i] = (1-mom)*g + mom*h1[i]
			h2[i] = (1-b2)*g*g + b2*h2[i]
			corr := math.Sqrt(1-math.Pow(b2, float64(t))) / (1 - math.Pow(mom, float64(t)))
			v = lr * corr * h1[i] / (math.Sqrt(h2[i]) + dl)
		}
		diff[i] = v
		data[i] -= v
	}
}

// Every method, with L2 / L1 decay, clipping and iter_size scaling, on a
// random vector over three steps against the float64 reference.
func TestUpdateAgainstReference(t *testing.T) {
	for m := SGD; m <= Adam; m++ {
		for _, reg := range []regKind{regNone, regL2, regL1} {
			t.Run(m.String()+"/"+[]string{"none", "L2", "L1"}[reg], func(t *testing.T) {
				r := rand.New(rand.NewSource(int64(m)*10 + int64(reg)))
				const n = 37
				mom := float32(0.9)
				if m == AdaGrad || m == RMSProp {
					mom = 0
				}
				hp := updateParams{method: m, momentum: mom, momentum2: 0.999, delta: 1e-6, rmsDecay: 0.95,
					clipScale: 0.7, accumScale: 0.5, reg: reg, localRate: 0.05}
				if reg != regNone {
					hp.localDecay = 0.01
				}
				data := make([]float32, n)
				diff := make([]float32, n)
				h1, h2 := make([]float32, n), make([]float32, n)
				rd, rdiff := make([]float64, n), make([]float64, n)
				rh1, rh2 := make([]float64, n), make([]float64, n)
				for i := range data {
					data[i] = float32(r.NormFloat64())
					rd[i] = float64(data[i])
				}
				data[3], rd[3] = 0, 0 // sign(0) = 0 under L1
				for step := 1; step <= 3; step++ {
					for i := range diff {
						diff[i] = float32(r.NormFloat64())
						rdiff[i] = float64(diff[i])
					}
					hp.adamScale = hp.localRate * adamCorrection(hp.momentum, hp.momentum2, step)
					applyUpdate(&hp, data, diff, h1, h2)
					refStep(m, hp, reg == regL1, rd, rdiff, rh1, rh2, step)
					for i := range data {
						if d := math.Abs(float64(data[i]) - rd[i]); d > 1e-5*(1+math.Abs(rd[i])) {
							t.Fatalf("step %d elem %d: data %.8g, reference %.8g", step, i, data[i], rd[i])
						}
						if d := math.Abs(float64(diff[i]) - rdiff[i]); d > 1e-5*(1+math.Abs(rdiff[i])) {
							t.Fatalf("step %d elem %d: update %.8g, reference %.8g", step, i, diff[i], rdiff[i])
						}
					}
				}
			})
		}
	}
}

// L2 adds decay*w, L1 adds decay*sign(w) to the gradient (plain SGD, no
// momentum, so the step is lr*(g + decay term)).
func TestRegularizationHandComputed(t *testing.T) {
	for _, c := range []struct {
		reg  regKind
		w, g float32
		want float32
	}{
		{regL2, -2, 0.5, -2 - 0.1*(0.5+0.1*-2)}, // g' = 0.3
		{regL1, -2, 0.5, -2 - 0.1*(0.5-0.1)},    // g' = 0.4
		{regL2, 3, 0, 3 - 0.1*(0.1*3)},
		{regL1, 3, 0, 3 - 0.1*0.1},
		{regL1, 0, 0.5, 0 - 0.1*0.5}, // sign(0) = 0
	} {
		u := updateParams{method: SGD, clipScale: 1, accumScale: 1, reg: c.reg, localDecay: 0.1, localRate: 0.1}
		data, diff, h := []float32{c.w}, []float32{c.g}, []float32{0}
		applyUpdate(&u, data, diff, h, nil)
		if math.Abs(float64(data[0]-c.want)) > 1e-6 {
			t.Errorf("reg %d w=%g g=%g: got %.8g, want %.8g", c.reg, c.w, c.g, data[0], c.want)
		}
	}
}

// fakeParams builds a solver around bare params (no net), to test the
// solver-level update path: lr_mult, decay_mult, clipping, iter_size.
func fakeSolver(t *testing.T, sp *caffepb.SolverParameter, blobs ...[]float32) *Solver {
	t.Helper()
	s := &Solver{sp: sp}
	var err error
	if s.method, err = MethodOf(sp); err != nil {
		t.Fatal(err)
	}
	if s.lr, err = newLRPolicy(sp); err != nil {
		t.Fatal(err)
	}
	if err := s.checkParams(); err != nil {
		t.Fatal(err)
	}
	for i, d := range blobs {
		b := layers.NewBlob(len(d))
		copy(b.Data, d)
		s.params = append(s.params, &net.Param{Blob: b, LrMult: 1, DecayMult: 1, Owner: "p", Index: i})
	}
	for k := 0; k < s.method.historySets(); k++ {
		for _, p := range s.params {
			s.history = append(s.history, make([]float32, p.Blob.Count()))
		}
	}
	return s
}

func f32(v float32) *float32 { return &v }
func i32(v int32) *int32     { return &v }
func str(v string) *string   { return &v }

// clip_gradients scales all diffs by clip/‖g‖ when the global L2 norm
// exceeds it (Caffe applies it before the 1/iter_size normalization).
func TestClipGradients(t *testing.T) {
	for _, c := range []struct {
		clip, scale float32
	}{
		{-1, 1},    // off
		{10, 1},    // norm 5 <= 10: untouched
		{2.5, 0.5}, // norm 5 > 2.5: halved
	} {
		sp := &caffepb.SolverParameter{BaseLr: f32(1), LrPolicy: str("fixed"), ClipGradients: f32(c.clip)}
		s := fakeSolver(t, sp, []float32{0, 0}, []float32{0})
		// diffs (3, 0) and (4): global norm 5.
		s.params[0].Blob.Diff[0], s.params[1].Blob.Diff[0] = 3, 4
		s.params[1].LrMult = 2
		s.applyUpdate(false)
		if got, want := s.params[0].Blob.Data[0], -3*c.scale; math.Abs(float64(got-want)) > 1e-6 {
			t.Errorf("clip %g: param 0 = %g, want %g", c.clip, got, want)
		}
		if got, want := s.params[1].Blob.Data[0], -2*4*c.scale; math.Abs(float64(got-want)) > 1e-6 {
			t.Errorf("clip %g: param 1 (lr_mult 2) = %g, want %g", c.clip, got, want)
		}
	}
}

// lr_mult and decay_mult scale the rate and the decay per param; iter_size
// divides the accumulated gradient.
func TestMultipliersAndIterSize(t *testing.T) {
	sp := &caffepb.SolverParameter{BaseLr: f32(0.1), LrPolicy: str("fixed"), WeightDecay: f32(0.5), IterSize: i32(4)}
	s := fakeSolver(t, sp, []float32{2}, []float32{2})
	s.params[1].LrMult, s.params[1].DecayMult = 3, 0
	s.params[0].Blob.Diff[0], s.params[1].Blob.Diff[0] = 4, 4
	s.applyUpdate(false)
	// param 0: g = 4/4 + 0.5*2 = 2; step 0.1*2.
	if got := s.params[0].Blob.Data[0]; math.Abs(float64(got-1.8)) > 1e-6 {
		t.Errorf("param 0 = %g, want 1.8", got)
	}
	// param 1: g = 1 (no decay); step 0.3.
	if got := s.params[1].Blob.Data[0]; math.Abs(float64(got-1.7)) > 1e-6 {
		t.Errorf("param 1 = %g, want 1.7", got)
	}
}

func TestMethodOf(t *testing.T) {
	for _, c := range []struct {
		sp   *caffepb.SolverParameter
		want Method
		err  bool
	}{
		{&caffepb.SolverParameter{}, SGD, false},
		{&caffepb.SolverParameter{Type: str("Adam")}, Adam, false},
		{&caffepb.SolverParameter{Type: str("RMSProp")}, RMSProp, false},
		{&caffepb.SolverParameter{SolverType: caffepb.SolverParameter_NESTEROV.Enum()}, Nesterov, false},
		{&caffepb.SolverParameter{SolverType: caffepb.SolverParameter_ADADELTA.Enum()}, AdaDelta, false},
		{&caffepb.SolverParameter{SolverType: caffepb.SolverParameter_ADAM.Enum(), Type: str("Adam")}, Adam, false},
		{&caffepb.SolverParameter{SolverType: caffepb.SolverParameter_ADAM.Enum(), Type: str("SGD")}, 0, true},
		{&caffepb.SolverParameter{Type: str("adam")}, 0, true},
	} {
		m, err := MethodOf(c.sp)
		if (err != nil) != c.err || (err == nil && m != c.want) {
			t.Errorf("MethodOf(%v) = %v, %v; want %v (error %v)", c.sp, m, err, c.want, c.err)
		}
	}
}

// The update allocates nothing.
func TestApplyUpdateAllocs(t *testing.T) {
	sp := &caffepb.SolverParameter{BaseLr: f32(0.1), LrPolicy: str("inv"), Gamma: f32(1e-4), Power: f32(0.75),
		Type: str("Adam"), ClipGradients: f32(1), WeightDecay: f32(5e-4)}
	s := fakeSolver(t, sp, make([]float32, 100), make([]float32, 10))
	if a := testing.AllocsPerRun(20, func() { s.applyUpdate(false) }); a != 0 {
		t.Fatalf("applyUpdate allocates %v times per call", a)
	}
}

// The solver drives Adam's bias correction with t = iter + 1 and keeps its
// two history sets: the hand-computed constant-gradient run steps by lr.
func TestSolverAdamSteps(t *testing.T) {
	sp := &caffepb.SolverParameter{BaseLr: f32(0.01), LrPolicy: str("fixed"), Type: str("Adam"),
		Momentum: f32(0.9)}
	s := fakeSolver(t, sp, []float32{1})
	if len(s.history) != 2 {
		t.Fatalf("%d history blobs, want 2", len(s.history))
	}
	for step, want := range []float32{0.99, 0.98, 0.97} {
		s.params[0].Blob.Diff[0] = 0.5
		s.applyUpdate(false)
		s.iter++
		if got := s.params[0].Blob.Data[0]; math.Abs(float64(got-want)) > 2e-6 {
			t.Fatalf("step %d: %.9g, want %.9g", step+1, got, want)
		}
	}
}

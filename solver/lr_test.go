package solver

import (
	"math"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// Every policy against its formula (Caffe's, in float64) at several
// iterations.
func TestLearningRatePolicies(t *testing.T) {
	const base, gamma, power = 0.01, 0.1, 0.75
	cases := []struct {
		policy  string
		sp      func(*caffepb.SolverParameter)
		formula func(it int) float64
	}{
		{"fixed", nil, func(int) float64 { return base }},
		{"step", func(sp *caffepb.SolverParameter) { sp.Stepsize = i32(100) },
			func(it int) float64 { return base * math.Pow(gamma, math.Floor(float64(it)/100)) }},
		{"exp", func(sp *caffepb.SolverParameter) { sp.Gamma = f32(0.999) },
			func(it int) float64 { return base * math.Pow(float64(float32(0.999)), float64(it)) }},
		{"inv", func(sp *caffepb.SolverParameter) { sp.Gamma = f32(1e-4) },
			func(it int) float64 { return base * math.Pow(1+1e-4*float64(it), -power) }},
		{"poly", func(sp *caffepb.SolverParameter) { sp.MaxIter = i32(1000); sp.Power = f32(2) },
			func(it int) float64 { return base * math.Pow(1-float64(it)/1000, 2) }},
		{"sigmoid", func(sp *caffepb.SolverParameter) { sp.Gamma = f32(-0.01); sp.Stepsize = i32(300) },
			func(it int) float64 { return base / (1 + math.Exp(0.01*(float64(it)-300))) }},
	}
	for _, c := range cases {
		sp := &caffepb.SolverParameter{BaseLr: f32(base), LrPolicy: str(c.policy), Gamma: f32(gamma), Power: f32(power)}
		if c.sp != nil {
			c.sp(sp)
		}
		p, err := newLRPolicy(sp)
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		step := 0
		for _, it := range []int{0, 1, 99, 100, 250, 500, 999} {
			got := p.rate(it, &step)
			want := c.formula(it)
			if math.Abs(float64(got)-want) > 1e-6*want+1e-12 {
				t.Errorf("%s at iter %d: %.9g, want %.9g", c.policy, it, got, want)
			}
		}
	}
	// The value Caffe logs for LeNet's inv policy at iteration 100.
	sp := &caffepb.SolverParameter{BaseLr: f32(0.01), LrPolicy: str("inv"), Gamma: f32(1e-4), Power: f32(0.75)}
	step := 0
	r, err := LearningRate(sp, 100, &step)
	if err != nil || g6(r) != "0.00992565" {
		t.Errorf("LeNet inv at 100: %s, %v; want 0.00992565", g6(r), err)
	}
}

// multistep moves through stepvalue one step per call, as Caffe does, and
// step recomputes current_step.
func TestMultistep(t *testing.T) {
	sp := &caffepb.SolverParameter{BaseLr: f32(1), LrPolicy: str("multistep"), Gamma: f32(0.5),
		Stepvalue: []int32{3, 5, 6}}
	p, err := newLRPolicy(sp)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 1, 0.5, 0.5, 0.25, 0.125, 0.125, 0.125}
	step := 0
	for it, w := range want {
		if got := p.rate(it, &step); got != w {
			t.Errorf("iter %d: rate %g, want %g (current_step %d)", it, got, w, step)
		}
	}
	if step != 3 {
		t.Errorf("current_step = %d, want 3", step)
	}
	sp = &caffepb.SolverParameter{BaseLr: f32(1), LrPolicy: str("step"), Gamma: f32(0.5), Stepsize: i32(10)}
	p, _ = newLRPolicy(sp)
	step = 0
	if r := p.rate(25, &step); r != 0.25 || step != 2 {
		t.Errorf("step at 25: rate %g step %d, want 0.25 and 2", r, step)
	}
}

func TestLearningRateErrors(t *testing.T) {
	for _, sp := range []*caffepb.SolverParameter{
		{BaseLr: f32(1)},
		{BaseLr: f32(1), LrPolicy: str("cosine")},
		{BaseLr: f32(1), LrPolicy: str("step")},
		{BaseLr: f32(1), LrPolicy: str("poly")},
		{BaseLr: f32(1), LrPolicy: str("multistep"), Stepvalue: []int32{5, 5}},
	} {
		if _, err := newLRPolicy(sp); err == nil {
			t.Errorf("%v: no error", sp)
		}
	}
}

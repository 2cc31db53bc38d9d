package solver

import (
	"fmt"
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// lrKind is a parsed lr_policy, so the per-iteration path compares no strings.
type lrKind int

const (
	lrFixed lrKind = iota
	lrStep
	lrExp
	lrInv
	lrMultistep
	lrPoly
	lrSigmoid
)

// lrPolicy is the learning-rate schedule of a SolverParameter, checked once.
type lrPolicy struct {
	kind      lrKind
	name      string
	baseLR    float32
	gamma     float32
	power     float32
	stepsize  int
	stepvalue []int
	maxIter   int
}

func newLRPolicy(sp *caffepb.SolverParameter) (*lrPolicy, error) {
	p := &lrPolicy{
		name:     sp.GetLrPolicy(),
		baseLR:   sp.GetBaseLr(),
		gamma:    sp.GetGamma(),
		power:    sp.GetPower(),
		stepsize: int(sp.GetStepsize()),
		maxIter:  int(sp.GetMaxIter()),
	}
	for _, v := range sp.Stepvalue {
		p.stepvalue = append(p.stepvalue, int(v))
	}
	switch p.name {
	case "fixed":
		p.kind = lrFixed
	case "step":
		p.kind = lrStep
		// Caffe CHECKs these when it first computes the rate; failing at
		// construction gives the user the error before any work is done.
		if p.stepsize <= 0 {
			return nil, fmt.Errorf("lr_policy \"step\" needs stepsize > 0 (got %d)", p.stepsize)
		}
		if p.gamma < 0 {
			return nil, fmt.Errorf("lr_policy \"step\" needs gamma >= 0 (got %g)", p.gamma)
		}
	case "exp":
		p.kind = lrExp
	case "inv":
		p.kind = lrInv
	case "multistep":
		p.kind = lrMultistep
		for i := 1; i < len(p.stepvalue); i++ {
			if p.stepvalue[i] <= p.stepvalue[i-1] {
				return nil, fmt.Errorf("lr_policy \"multistep\": stepvalue must increase (%d after %d)", p.stepvalue[i], p.stepvalue[i-1])
			}
		}
	case "poly":
		p.kind = lrPoly
		if p.maxIter <= 0 {
			return nil, fmt.Errorf("lr_policy \"poly\" needs max_iter > 0 (got %d)", p.maxIter)
		}
	case "sigmoid":
		p.kind = lrSigmoid
	case "":
		return nil, fmt.Errorf("lr_policy is not set (one of fixed, step, exp, inv, multistep, poly, sigmoid)")
	default:
		return nil, fmt.Errorf("unknown lr_policy %q (one of fixed, step, exp, inv, multistep, poly, sigmoid)", p.name)
	}
	return p, nil
}

// rate is Caffe's SGDSolver::GetLearningRate at iteration iter. currentStep
// is Caffe's current_step_: "step" recomputes it, "multistep" advances it by
// at most one step per call (as Caffe does, so a call per iteration is
// needed), the others leave it alone. The float32/float64 mix follows the C++
// types: pow(float, int) is computed in double, pow(float, float) in float.
func (p *lrPolicy) rate(iter int, currentStep *int) float32 {
	switch p.kind {
	case lrFixed:
		return p.baseLR
	case lrStep:
		*currentStep = iter / p.stepsize
		return float32(float64(p.baseLR) * math.Pow(float64(p.gamma), float64(*currentStep)))
	case lrExp:
		return float32(float64(p.baseLR) * math.Pow(float64(p.gamma), float64(iter)))
	case lrInv:
		x := float32(1) + p.gamma*float32(iter)
		return p.baseLR * float32(math.Pow(float64(x), float64(-p.power)))
	case lrMultistep:
		if *currentStep < len(p.stepvalue) && iter >= p.stepvalue[*currentStep] {
			*currentStep++
		}
		return float32(float64(p.baseLR) * math.Pow(float64(p.gamma), float64(*currentStep)))
	case lrPoly:
		x := float32(1) - float32(iter)/float32(p.maxIter)
		return p.baseLR * float32(math.Pow(float64(x), float64(p.power)))
	case lrSigmoid:
		e := float32(math.Exp(float64(-p.gamma * (float32(iter) - float32(p.stepsize)))))
		return p.baseLR * (float32(1) / (float32(1) + e))
	}
	return p.baseLR
}

// LearningRate computes Caffe's learning rate of sp's lr_policy at iteration
// iter. currentStep carries Caffe's current_step_ between calls (start at 0,
// or at a restored .solverstate's current_step); the "multistep" policy
// advances it by at most one step per call, exactly as Caffe does, so call
// it for every iteration in order.
func LearningRate(sp *caffepb.SolverParameter, iter int, currentStep *int) (float32, error) {
	p, err := newLRPolicy(sp)
	if err != nil {
		return 0, err
	}
	return p.rate(iter, currentStep), nil
}

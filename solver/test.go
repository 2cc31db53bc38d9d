package solver

import (
	"context"
	"fmt"
)

// Test runs every TEST net (Caffe's TestAll) and logs the results.
func (s *Solver) Test(ctx context.Context) error {
	_, err := s.TestAll(ctx)
	return err
}

// TestAll runs test_iter batches of every TEST net on the current weights,
// logs Caffe's "Testing net" lines and returns, per TEST net, the mean of
// every output element over the batches. With a Reducer the per-executor
// totals and batch counts are summed first, so the means are over all
// executors' batches; every executor must call TestAll at the same point.
func (s *Solver) TestAll(ctx context.Context) ([]TestResult, error) {
	res := make([]TestResult, 0, len(s.testNets))
	for i := range s.testNets {
		r, err := s.testNet(ctx, i)
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	return res, nil
}

func (s *Solver) testNet(ctx context.Context, id int) (TestResult, error) {
	s.logf("Iteration %d, Testing net (#%d)", s.iter, id)
	tn := s.testNets[id]
	outs := tn.OutputBlobs()
	n := 0
	for _, b := range outs {
		n += b.Count()
	}
	// Totals in float64: the mean over many batches keeps its digits.
	// Layout: the output elements, then the loss total, then the batch count.
	tot := make([]float64, n+2)
	batches := s.testIter[id]
	computeLoss := s.sp.GetTestComputeLoss()
	for it := 0; it < batches; it++ {
		if err := ctx.Err(); err != nil {
			return TestResult{}, err
		}
		loss, err := tn.Forward()
		if err != nil {
			return TestResult{}, fmt.Errorf("iteration %d: test net #%d: %w", s.iter, id, err)
		}
		if computeLoss {
			tot[n] += float64(loss)
		}
		k := 0
		for _, b := range outs {
			if k+b.Count() > n {
				return TestResult{}, fmt.Errorf("test net #%d: output %q changed size during the test", id, b.Name)
			}
			for _, v := range b.Data[:b.Count()] {
				tot[k] += float64(v)
				k++
			}
		}
	}
	tot[n+1] = float64(batches)
	if s.opts.Reducer != nil {
		if err := s.opts.Reducer.SumFloat64(tot); err != nil {
			return TestResult{}, fmt.Errorf("iteration %d: test net #%d: reduction: %w", s.iter, id, err)
		}
	}
	count := tot[n+1]
	if count == 0 {
		count = 1 // no batches anywhere: report zeros rather than NaN
	}
	names := tn.OutputNames()
	weights := tn.OutputLossWeights()
	r := TestResult{
		Net:         id,
		Iter:        s.iter,
		Names:       append([]string(nil), names...),
		LossWeights: append([]float32(nil), weights...),
		Values:      make([][]float32, len(outs)),
	}
	if computeLoss {
		r.Loss = float32(tot[n] / count)
		s.logf("Test loss: %s", g6(r.Loss))
	}
	k := 0
	for j, b := range outs {
		vals := make([]float32, b.Count())
		for e := range vals {
			vals[e] = float32(tot[k] / count)
			s.logf("    Test net output #%d: %s = %s%s", k, names[j], g6(vals[e]), lossMsg(weights[j], vals[e]))
			k++
		}
		r.Values[j] = vals
	}
	return r, nil
}

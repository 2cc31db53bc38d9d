package solver

import (
	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
)

// Options are what the solver needs beyond the SolverParameter and the net.
type Options struct {
	// Sources opens data layers' record streams (passed to the nets'
	// layers.Context). The solver wraps it to re-position TRAIN sources on
	// Restore.
	Sources layers.SourceOpener
	// Logf receives Caffe's log lines (without glog's prefix). Nil: silent.
	Logf func(format string, args ...any)
	// Reducer, when set, averages gradients across executors (distributed
	// training). Nil: single executor.
	Reducer Reducer
	// Rank is this executor's rank; only rank 0 logs and writes snapshots.
	Rank int
	// Progress, when set, is called after every iteration. It must not keep
	// the Progress's Test slice beyond the call if it modifies it.
	Progress func(Progress)
	// Threads is passed to the nets' layers.Context (0: GOMAXPROCS).
	Threads int
}

// Reducer connects the solver to the other executors of a data-parallel job.
// Every executor runs the same solver on the same net with the same seed, so
// all of them call these methods in the same order.
type Reducer interface {
	// ParamsReady is called during the last backward pass of an iteration
	// (of the iter_size passes), as the gradients of params become final
	// (last layer first), so their reduction can overlap the rest of the
	// backward pass.
	ParamsReady(params []*net.Param)
	// Wait returns once every learnable param's diff holds the average over
	// executors (sum / world size).
	Wait() error
	// SumFloat64 sums vals element-wise across executors, in place. The
	// solver uses it for test outputs (per-executor totals and batch
	// counts) and for the displayed training loss.
	SumFloat64(vals []float64) error
}

// Progress describes one finished iteration, for progress bars and library
// callers.
type Progress struct {
	// Iter is the number of iterations completed (weights updated Iter times).
	Iter    int
	MaxIter int
	// Loss is this iteration's loss on this executor (mean over the
	// iter_size passes).
	Loss float32
	// SmoothedLoss averages Loss over the last average_loss iterations.
	SmoothedLoss float32
	// LR is the learning rate used by this iteration's update.
	LR float32
	// ItersPerSec is the speed since the last display (or since Step began).
	ItersPerSec float64
	// Test holds the results of the test run at the start of this
	// iteration (one per TEST net), nil when no test ran.
	Test []TestResult
	// Final marks the extra report Solve makes after the last iteration
	// for the final test pass; it repeats the last iteration's Iter.
	Final bool
}

// TestResult is the outcome of one test run of one TEST net: for every
// output blob of the net, the mean of each of its elements over test_iter
// batches (over all executors' batches when a Reducer is set).
type TestResult struct {
	// Net is the index of the TEST net (Caffe's "#0").
	Net int
	// Iter is the training iteration at which the test ran.
	Iter int
	// Names are the output blob names, in the net's output order.
	Names []string
	// Values holds, per output blob, the mean of each element (a scalar
	// output such as accuracy has one value).
	Values [][]float32
	// LossWeights are the outputs' loss weights (0 for non-loss outputs).
	LossWeights []float32
	// Loss is the mean total loss of the net when test_compute_loss is set.
	Loss float32
}

// Value returns the first element of the named output's mean (the value of
// a scalar output such as "accuracy" or "loss").
func (r *TestResult) Value(name string) (float32, bool) {
	for i, n := range r.Names {
		if n == name && len(r.Values[i]) > 0 {
			return r.Values[i][0], true
		}
	}
	return 0, false
}

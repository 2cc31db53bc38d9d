package solver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Solver trains a net with one of Caffe's solvers. It is not safe for
// concurrent use.
type Solver struct {
	sp     *caffepb.SolverParameter
	opts   Options
	method Method
	lr     *lrPolicy
	seed   int64

	net      *net.Net
	testNets []*net.Net
	testIter []int
	params   []*net.Param
	// history holds historySets()*len(params) blobs' values: the first set
	// (momentum / squared-gradient history) for every param, then the
	// second (AdaDelta's update history, Adam's second moment), Caffe's
	// order in a .solverstate.
	history [][]float32

	iter        int
	currentStep int
	iterSize    int
	averageLoss int
	losses      []float32
	smoothed    float32
	rate        float32
	upd         updateParams
	par         parallelUpdate
	reg         regKind
	weightDecay float32
	clip        float32

	// lastPass gates the params-ready hook: only the last of the iter_size
	// backward passes produces final gradients.
	lastPass bool

	// sharder, when set, splits the update among executors (shard.go);
	// shardIdx maps params to its sections (-1: none), and historyPartial
	// says sharded steps left history current only in this executor's
	// sections.
	sharder        ShardedReducer
	shardIdx       []int
	shardN         int
	historyPartial bool

	timerStart time.Time
	itersLast  int
	reduceBuf  []float64

	trainParam *caffepb.NetParameter
	opener     layers.SourceOpener
	sources    []*skipSource
	// skipBatches, when > 0, makes TRAIN sources opened from now on start
	// that many batches in (a rebuild for Restore).
	skipBatches int

	warnedPrefix bool
}

// New builds the solver: the TRAIN net (seeded from random_seed) and the
// TEST nets sharing its weights.
//
// np is the train net as prototxt.LoadSolverAndNet returns it (read from
// `net:` / `train_net:`, or a copy of the inline net_param /
// train_net_param, with data paths resolved). np may be nil: the train net is
// then sp.train_net_param, else sp.net_param. TEST nets come, in Caffe's
// order, from sp.test_net_param, sp.test_net files (read as given, relative
// to the working directory, when the loader has not already moved them into
// test_net_param), then one instance of the generic net (the train net when
// it came from net / net_param) per remaining test_iter entry, each with its
// test_state. sp.weights files (comma-separated lists allowed), if any,
// initialise the weights.
func New(sp *caffepb.SolverParameter, np *caffepb.NetParameter, opts Options) (*Solver, error) {
	if sp == nil {
		return nil, errors.New("solver: no SolverParameter")
	}
	s := &Solver{sp: sp, opts: opts}
	var err error
	if s.method, err = MethodOf(sp); err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}
	if s.lr, err = newLRPolicy(sp); err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}
	if err := s.checkParams(); err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}
	// Settings cos accepts but does not honour (solver_mode GPU, ...): one
	// line each, logged here once so that every entry point (CLI, library,
	// executors) reports them. snapshot_format HDF5 depends on the build:
	// see checkSnapshotFormat.
	for _, w := range prototxt.SolverWarnings(sp) {
		s.logf("%s", w)
	}

	s.seed = sp.GetRandomSeed()
	if s.seed < 0 {
		// Caffe seeds from the clock (and the pid) when random_seed is unset;
		// distributed callers must set a common seed so replicas agree.
		s.seed = time.Now().UnixNano()
	}
	opener := opts.Sources
	if opener != nil {
		opener = s.wrapSources(opener)
	}

	trainParam, testParams, testStates, err := s.netParams(np)
	if err != nil {
		return nil, fmt.Errorf("solver: %w", err)
	}

	state := &caffepb.NetState{Phase: caffepb.Phase_TRAIN.Enum()}
	proto.Merge(state, trainParam.GetState())
	proto.Merge(state, sp.GetTrainState())
	s.trainParam = proto.Clone(trainParam).(*caffepb.NetParameter)
	s.trainParam.State = state
	s.opener = opener
	if err := s.buildTrain(s.netLog()); err != nil {
		return nil, err
	}
	for i, p := range testParams {
		s.logf("Creating test net (#%d)", i)
		st := &caffepb.NetState{Phase: caffepb.Phase_TEST.Enum()}
		proto.Merge(st, p.GetState())
		if testStates != nil {
			proto.Merge(st, testStates[i])
		}
		q := proto.Clone(p).(*caffepb.NetParameter)
		q.State = st
		tn, err := net.NewWithOptions(q, &layers.Context{
			Phase: st.GetPhase(),
			// A separate stream per test net, so building test nets never
			// shifts the random numbers the TRAIN net draws.
			Rand:    rand.New(rand.NewSource(s.seed + int64(i) + 1)),
			Sources: opts.Sources,
			Threads: opts.Threads,
		}, s.netLog())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("solver: test net #%d: %w", i, err)
		}
		s.testNets = append(s.testNets, tn)
		if err := tn.ShareWeightsFrom(s.net); err != nil {
			s.Close()
			return nil, fmt.Errorf("solver: test net #%d: %w", i, err)
		}
	}

	if err := s.checkSnapshotFormat(); err != nil {
		s.Close()
		return nil, fmt.Errorf("solver: %w", err)
	}

	sets := s.method.historySets()
	s.history = make([][]float32, 0, sets*len(s.params))
	for k := 0; k < sets; k++ {
		for _, p := range s.params {
			s.history = append(s.history, make([]float32, p.Blob.Count()))
		}
	}
	// Clipping scales by the norm of the whole averaged gradient, which no
	// executor has in a sharded update.
	if sr, ok := opts.Reducer.(ShardedReducer); ok && s.clip < 0 {
		sr.EnableShardedUpdate(!s.net.SharesParams())
		s.sharder = sr
	}
	// Each weights entry may list several models separated by commas, as
	// Caffe's -weights flag does; later ones overwrite earlier ones.
	for _, list := range sp.Weights {
		for _, w := range strings.Split(list, ",") {
			if w = strings.TrimSpace(w); w == "" {
				continue
			}
			if err := s.LoadWeights(w); err != nil {
				s.Close()
				return nil, fmt.Errorf("solver: weights: %w", err)
			}
		}
	}
	return s, nil
}

// buildTrain builds the TRAIN net from s.trainParam, seeded with s.seed, so
// that a rebuild (Restore) draws exactly the same initial values.
func (s *Solver) buildTrain(o net.Options) error {
	n, err := net.NewWithOptions(s.trainParam, &layers.Context{
		Phase:   s.trainParam.GetState().GetPhase(),
		Rand:    rand.New(rand.NewSource(s.seed)),
		Sources: s.opener,
		Threads: s.opts.Threads,
	}, o)
	if err != nil {
		return fmt.Errorf("solver: train net: %w", err)
	}
	s.net = n
	s.params = n.LearnableParams()
	s.shardIdx = nil // maps the old net's params
	n.SetParamsReadyHook(s.paramsReady)
	return nil
}

// checkParams validates the solver fields that do not depend on the net.
func (s *Solver) checkParams() error {
	sp := s.sp
	s.iterSize = int(sp.GetIterSize())
	if s.iterSize < 1 {
		return fmt.Errorf("iter_size must be >= 1 (got %d)", s.iterSize)
	}
	s.averageLoss = int(sp.GetAverageLoss())
	if s.averageLoss < 1 {
		return fmt.Errorf("average_loss must be >= 1 (got %d)", s.averageLoss)
	}
	s.losses = make([]float32, 0, s.averageLoss)
	if sp.GetMaxIter() < 0 {
		return fmt.Errorf("max_iter must be >= 0 (got %d)", sp.GetMaxIter())
	}
	switch sp.GetRegularizationType() {
	case "L2":
		s.reg = regL2
	case "L1":
		s.reg = regL1
	default:
		return fmt.Errorf("unknown regularization_type %q (L1 or L2)", sp.GetRegularizationType())
	}
	s.weightDecay = sp.GetWeightDecay()
	s.clip = sp.GetClipGradients()
	switch s.method {
	case AdaGrad, RMSProp:
		if sp.GetMomentum() != 0 {
			return fmt.Errorf("momentum cannot be used with %s (got %g)", s.method, sp.GetMomentum())
		}
	}
	if s.method == RMSProp && (sp.GetRmsDecay() < 0 || sp.GetRmsDecay() > 1) {
		return fmt.Errorf("rms_decay must be in [0, 1] (got %g)", sp.GetRmsDecay())
	}
	if sp.GetSnapshot() > 0 && sp.GetSnapshotPrefix() == "" {
		return errors.New("snapshot is set but snapshot_prefix is not")
	}
	if sp.GetTestInterval() < 0 || sp.GetDisplay() < 0 || sp.GetSnapshot() < 0 {
		return errors.New("test_interval, display and snapshot must be >= 0")
	}
	s.upd = updateParams{
		method:    s.method,
		momentum:  sp.GetMomentum(),
		momentum2: sp.GetMomentum2(),
		delta:     sp.GetDelta(),
		rmsDecay:  sp.GetRmsDecay(),
	}
	return nil
}

// netParams picks the train and test net definitions as Caffe's
// InitTrainNet / InitTestNets do.
func (s *Solver) netParams(np *caffepb.NetParameter) (train *caffepb.NetParameter, tests []*caffepb.NetParameter, states []*caffepb.NetState, err error) {
	sp := s.sp
	switch {
	case np != nil:
		// The loader's copy (data paths resolved) of whichever train net
		// field the solver set.
		train = np
	case sp.TrainNetParam != nil:
		train = sp.TrainNetParam
	case sp.NetParam != nil:
		train = sp.NetParam
	default:
		return nil, nil, nil, errors.New("no net given (net, net_param, train_net or train_net_param)")
	}
	switch {
	case sp.TrainNetParam != nil:
		s.logf("Creating training net specified in train_net_param.")
	case sp.TrainNet != nil:
		s.logf("Creating training net from train_net file: %s", sp.GetTrainNet())
	case sp.NetParam != nil:
		s.logf("Creating training net specified in net_param.")
	case sp.Net != nil:
		s.logf("Creating training net from net file: %s", sp.GetNet())
	default:
		s.logf("Creating training net.")
	}
	// The generic net (net or net_param) also serves as TEST net for the
	// test_iter entries not covered by test_net_param / test_net.
	var generic *caffepb.NetParameter
	if sp.TrainNet == nil && sp.TrainNetParam == nil {
		generic = train
	}
	tests = append(tests, sp.TestNetParam...)
	for _, f := range sp.TestNet {
		tnp, err := prototxt.LoadNet(f)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("test_net: %w", err)
		}
		tests = append(tests, tnp)
	}
	nIter := len(sp.TestIter)
	if generic != nil {
		if nIter < len(tests) {
			return nil, nil, nil, fmt.Errorf("%d test nets but only %d test_iter values", len(tests), nIter)
		}
		for len(tests) < nIter {
			tests = append(tests, generic)
		}
	} else if nIter != len(tests) {
		return nil, nil, nil, fmt.Errorf("%d test nets but %d test_iter values (one per test net)", len(tests), nIter)
	}
	if len(tests) > 0 && sp.GetTestInterval() <= 0 {
		// CaffeOnSpark's own examples (bvlc_reference_solver, lrcn_solver)
		// switch testing off with "test_iter: 0" and "test_interval: 0",
		// which stock Caffe rejects. Such test nets would never run, so
		// they are not built (nor their TEST data sources opened).
		if !allZero(sp.TestIter) {
			return nil, nil, nil, fmt.Errorf("test_iter is set but test_interval is not (> 0)")
		}
		s.logf("test_interval is 0 and every test_iter is 0: no testing")
		return train, nil, nil, nil
	}
	if len(sp.TestState) > 0 {
		if len(sp.TestState) != len(tests) {
			return nil, nil, nil, fmt.Errorf("%d test_state values for %d test nets", len(sp.TestState), len(tests))
		}
		states = sp.TestState
	}
	for _, n := range sp.TestIter {
		if n < 0 {
			return nil, nil, nil, fmt.Errorf("test_iter must be >= 0 (got %d)", n)
		}
		s.testIter = append(s.testIter, int(n))
	}
	return train, tests, states, nil
}

// allZero reports whether every test_iter value is 0.
func allZero(iters []int32) bool {
	for _, n := range iters {
		if n != 0 {
			return false
		}
	}
	return true
}

func (s *Solver) paramsReady(ps []*net.Param) {
	if s.lastPass {
		s.opts.Reducer.ParamsReady(ps)
	}
}

// netLog passes Caffe's net construction lines to Logf on rank 0.
func (s *Solver) netLog() net.Options {
	if s.opts.Logf == nil || s.opts.Rank != 0 {
		return net.Options{}
	}
	return net.Options{Logf: s.opts.Logf}
}

// logf logs on rank 0 only.
func (s *Solver) logf(format string, args ...any) {
	if s.opts.Logf != nil && s.opts.Rank == 0 {
		s.opts.Logf(format, args...)
	}
}

// Net is the TRAIN net.
func (s *Solver) Net() *net.Net { return s.net }

// TestNets are the TEST nets, in Caffe's order.
func (s *Solver) TestNets() []*net.Net { return s.testNets }

// Iter is the number of iterations done (weight updates applied).
func (s *Solver) Iter() int { return s.iter }

// Method is the solver type.
func (s *Solver) Method() Method { return s.method }

// Param is the SolverParameter the solver runs.
func (s *Solver) Param() *caffepb.SolverParameter { return s.sp }

// Seed is the random seed the nets were built with (random_seed, or the
// clock's value when random_seed was unset).
func (s *Solver) Seed() int64 { return s.seed }

// SmoothedLoss is the loss averaged over the last average_loss iterations.
func (s *Solver) SmoothedLoss() float32 { return s.smoothed }

// LearningRate is the rate the last update used.
func (s *Solver) LearningRate() float32 { return s.rate }

// Close releases the nets (data sources).
func (s *Solver) Close() error {
	var first error
	if s.net != nil {
		first = s.net.Close()
	}
	for _, tn := range s.testNets {
		if err := tn.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Solve runs Caffe's Solver::Solve: Step until max_iter, snapshot at the end
// (snapshot_after_train), a final loss display and test. When ctx is
// cancelled it stops after the current iteration, snapshots (as Caffe does
// on SIGINT) and returns ctx's error.
func (s *Solver) Solve(ctx context.Context) error {
	s.logf("Solving %s", s.net.Name())
	s.logf("Learning Rate Policy: %s", s.lr.name)
	startIter := s.iter
	err := s.Step(ctx, int(s.sp.GetMaxIter())-s.iter)
	stopped := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !stopped {
		return err
	}
	snap := s.sp.GetSnapshot()
	if s.sp.GetSnapshotAfterTrain() && (snap == 0 || s.iter%int(snap) != 0) {
		if s.sp.GetSnapshotPrefix() == "" {
			if !s.warnedPrefix {
				s.warnedPrefix = true
				s.logf("snapshot_prefix is not set; not writing the final snapshot")
			}
		} else if _, _, err := s.Snapshot(); err != nil {
			return err
		}
	}
	if stopped {
		s.logf("Optimization stopped early.")
		return err
	}
	if d := int(s.sp.GetDisplay()); d > 0 && s.iter%d == 0 {
		loss, err := s.net.Forward()
		if err != nil {
			return fmt.Errorf("iteration %d: %w", s.iter, err)
		}
		s.updateSmoothedLoss(loss, startIter)
		sm, err := s.meanAcross(s.smoothed)
		if err != nil {
			return err
		}
		s.logf("Iteration %d, loss = %s", s.iter, g6(sm))
	}
	if ti := int(s.sp.GetTestInterval()); ti > 0 && s.iter%ti == 0 {
		res, err := s.TestAll(ctx)
		if err != nil {
			return err
		}
		// The final test belongs to no iteration of Step: report it on its
		// own, with Iter equal to the last iteration's.
		if s.opts.Progress != nil {
			s.opts.Progress(Progress{Iter: s.iter, MaxIter: int(s.sp.GetMaxIter()), Loss: s.smoothed,
				SmoothedLoss: s.smoothed, LR: s.rate, Test: res, Final: true})
		}
	}
	s.logf("Optimization Done.")
	return nil
}

// Step runs n iterations (Caffe's Solver::Step), testing, displaying and
// snapshotting on the way as the SolverParameter says. It returns ctx's
// error, after finishing the current iteration, when ctx is cancelled.
func (s *Solver) Step(ctx context.Context, n int) error {
	startIter := s.iter
	stop := s.iter + n
	s.losses = s.losses[:0]
	s.smoothed = 0
	s.timerStart = time.Now()
	s.itersLast = s.iter
	ti := int(s.sp.GetTestInterval())
	disp := int(s.sp.GetDisplay())
	snap := int(s.sp.GetSnapshot())
	for s.iter < stop {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.clearDiffs()
		var tested []TestResult
		if ti > 0 && s.iter%ti == 0 && (s.iter > 0 || s.sp.GetTestInitialization()) {
			var err error
			if tested, err = s.TestAll(ctx); err != nil {
				return err
			}
		}
		display := disp > 0 && s.iter%disp == 0
		var loss float32
		for i := 0; i < s.iterSize; i++ {
			s.lastPass = s.opts.Reducer != nil && i == s.iterSize-1
			l, err := s.net.ForwardBackward()
			s.lastPass = false
			if err != nil {
				return fmt.Errorf("iteration %d: %w", s.iter, err)
			}
			loss += l
		}
		loss /= float32(s.iterSize)
		if s.opts.Reducer != nil {
			if err := s.opts.Reducer.Wait(); err != nil {
				return fmt.Errorf("iteration %d: gradient reduction: %w", s.iter, err)
			}
		}
		s.updateSmoothedLoss(loss, startIter)
		perS := s.itersPerSec()
		if display {
			if err := s.display(perS); err != nil {
				return err
			}
		}
		s.applyUpdate(display)
		if s.par.red != nil {
			s.par.red = nil
			s.historyPartial = true
			if err := s.sharder.GatherUpdate(); err != nil {
				return fmt.Errorf("iteration %d: gathering the update: %w", s.iter, err)
			}
		}
		s.iter++
		if snap > 0 && s.iter%snap == 0 {
			if _, _, err := s.Snapshot(); err != nil {
				return err
			}
		}
		if s.opts.Progress != nil {
			s.opts.Progress(Progress{
				Iter: s.iter, MaxIter: int(s.sp.GetMaxIter()),
				Loss: loss, SmoothedLoss: s.smoothed, LR: s.rate,
				ItersPerSec: perS, Test: tested,
			})
		}
	}
	return nil
}

func (s *Solver) clearDiffs() {
	for _, p := range s.params {
		clear(p.Blob.Diff)
	}
}

// updateSmoothedLoss is Caffe's running mean over the last average_loss
// iterations.
func (s *Solver) updateSmoothedLoss(loss float32, startIter int) {
	if len(s.losses) < s.averageLoss {
		s.losses = append(s.losses, loss)
		n := float32(len(s.losses))
		s.smoothed = (s.smoothed*(n-1) + loss) / n
		return
	}
	idx := (s.iter - startIter) % s.averageLoss
	s.smoothed += (loss - s.losses[idx]) / float32(s.averageLoss)
	s.losses[idx] = loss
}

func (s *Solver) itersPerSec() float64 {
	lapse := time.Since(s.timerStart).Seconds()
	if lapse == 0 {
		lapse = 1
	}
	return float64(s.iter-s.itersLast) / lapse
}

// display logs Caffe's loss lines and restarts the speed timer.
func (s *Solver) display(perS float64) error {
	lapse := time.Since(s.timerStart).Seconds()
	outs := s.net.OutputBlobs()
	// With a Reducer the displayed numbers are the means over executors:
	// every rank takes part in the sum, only rank 0 logs.
	if s.opts.Reducer != nil {
		buf := s.reduceBuf[:0]
		buf = append(buf, float64(s.smoothed))
		for _, b := range outs {
			for _, v := range b.Data[:b.Count()] {
				buf = append(buf, float64(v))
			}
		}
		buf = append(buf, 1)
		s.reduceBuf = buf
		if err := s.opts.Reducer.SumFloat64(buf); err != nil {
			return fmt.Errorf("iteration %d: loss reduction: %w", s.iter, err)
		}
	}
	if s.opts.Logf != nil && s.opts.Rank == 0 {
		mean := func(i int, local float32) float32 {
			if s.opts.Reducer == nil {
				return local
			}
			return float32(s.reduceBuf[i] / s.reduceBuf[len(s.reduceBuf)-1])
		}
		s.logf("Iteration %d (%s iter/s, %ss/%d iters), loss = %s", s.iter, g6(float32(perS)),
			g6(float32(lapse)), s.sp.GetDisplay(), g6(mean(0, s.smoothed)))
		names := s.net.OutputNames()
		weights := s.net.OutputLossWeights()
		idx := 0
		for j, b := range outs {
			for k := 0; k < b.Count(); k++ {
				v := mean(1+idx, b.Data[k])
				s.logf("    Train net output #%d: %s = %s%s", idx, names[j], g6(v), lossMsg(weights[j], v))
				idx++
			}
		}
	}
	s.timerStart = time.Now()
	s.itersLast = s.iter
	return nil
}

// meanAcross averages a scalar over executors (identity without Reducer).
func (s *Solver) meanAcross(v float32) (float32, error) {
	if s.opts.Reducer == nil {
		return v, nil
	}
	buf := append(s.reduceBuf[:0], float64(v), 1)
	s.reduceBuf = buf
	if err := s.opts.Reducer.SumFloat64(buf); err != nil {
		return 0, err
	}
	return float32(buf[0] / buf[1]), nil
}

// applyUpdate is Caffe's SGDSolver::ApplyUpdate followed by Net::Update:
// rate, clipping, then per param normalisation, regularisation, the update
// rule and the weight change, fused into one pass per param.
func (s *Solver) applyUpdate(display bool) {
	s.rate = s.lr.rate(s.iter, &s.currentStep)
	if display {
		s.logf("Iteration %d, lr = %s", s.iter, g6(s.rate))
	}
	u := &s.upd
	u.clipScale = 1
	if s.clip >= 0 {
		var sumsq float64
		for _, p := range s.params {
			var acc float32
			for _, d := range p.Blob.Diff[:p.Blob.Count()] {
				acc += float32(d * d) // unfused, as on every build
			}
			sumsq += float64(acc)
		}
		l2 := float32(math.Sqrt(sumsq))
		if l2 > s.clip {
			u.clipScale = s.clip / l2
			if s.opts.Logf != nil && s.opts.Rank == 0 {
				s.logf("Gradient clipping: scaling down gradients (L2 norm %s > %s) by scale factor %s",
					g6(l2), g6(s.clip), g6(u.clipScale))
			}
		}
	}
	u.accumScale = 1
	if s.iterSize > 1 {
		u.accumScale = float32(1) / float32(s.iterSize)
	}
	np := len(s.params)
	var corr float32
	if s.method == Adam {
		corr = adamCorrection(u.momentum, u.momentum2, s.iter+1)
	}
	s.par.prepare(len(s.params))
	secs, sharded := s.shardPlan()
	if sharded {
		s.par.red = s.sharder
	}
	for i, p := range s.params {
		u.localRate = s.rate * p.LrMult
		u.localDecay = s.weightDecay * p.DecayMult
		u.reg = s.reg
		if u.localDecay == 0 {
			u.reg = regNone
		}
		u.adamScale = u.localRate * corr
		var h2 []float32
		if len(s.history) > np {
			h2 = s.history[np+i]
		}
		b := p.Blob
		data, diff, h1 := b.Data[:b.Count()], b.Diff[:b.Count()], s.history[i]
		sec := -1
		if sharded && s.shardIdx[i] >= 0 {
			sec = s.shardIdx[i]
			lo, hi := secs[sec].Lo, secs[sec].Hi
			data, diff, h1 = data[lo:hi], diff[lo:hi], h1[lo:hi]
			if h2 != nil {
				h2 = h2[lo:hi]
			}
		}
		s.par.add(i, u, data, diff, h1, h2)
		if sec >= 0 {
			s.par.params[i].sec, s.par.params[i].off = sec, secs[sec].Lo
		}
	}
	s.par.run(s.opts.Threads)
}

// g6 formats a float as C++'s default ostream does (6 significant digits,
// %g style), which is how Caffe's log lines print numbers.
func g6(v float32) string {
	return strconv.FormatFloat(float64(v), 'g', 6, 64)
}

func lossMsg(weight, v float32) string {
	if weight == 0 {
		return ""
	}
	return " (* " + g6(weight) + " = " + g6(weight*v) + " loss)"
}

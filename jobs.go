package cos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cos-project/cos/distri"
	"github.com/cos-project/cos/distri/output"
	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
	"github.com/cos-project/cos/solver"
)

// TrainResult is what Train leaves behind.
type TrainResult struct {
	// Model is the final .caffemodel (Config.Model, or the solver's last
	// snapshot when Model is empty).
	Model string
	// Iter is the number of iterations trained.
	Iter int
	// Curves is the base path of the curves files (.csv, .png).
	Curves string
	// Test holds the last test pass's outputs, when the solver tests.
	Test map[string]float64
}

// TestResult is the mean of each output blob of the TEST net over its
// whole source (over every executor's shard).
type TestResult struct {
	Names  []string
	Values [][]float32
	// Samples is the number of records evaluated.
	Samples int
}

// Value returns the first element of the named output (e.g. "accuracy").
func (r *TestResult) Value(name string) (float32, bool) {
	for i, n := range r.Names {
		if n == name && len(r.Values[i]) > 0 {
			return r.Values[i][0], true
		}
	}
	return 0, false
}

// FeaturesResult says how many rows Features wrote.
type FeaturesResult struct {
	Rows  int
	Parts int
}

// Train trains the net of cfg.Solver and writes the final weights to
// cfg.Model. With ClusterSize > 1 it runs that many executor processes.
// cfg.Features and cfg.Label are ignored: call Features afterwards.
func Train(ctx context.Context, cfg Config) (_ *TrainResult, err error) {
	defer recoverJob(&err)
	// Train only trains: a Config shared with a later Features call may
	// carry its columns.
	cfg.Features, cfg.Label = nil, ""
	if err := cfg.Check(Mode{Train: true}); err != nil {
		return nil, err
	}
	var res TrainResult
	err = runJob(ctx, &cfg, jobTrain, &res)
	return &res, err
}

// Test evaluates cfg.Model on the TEST net's whole source and, when
// cfg.Output is set, writes test_result.txt there as CaffeOnSpark did.
func Test(ctx context.Context, cfg Config) (_ *TestResult, err error) {
	defer recoverJob(&err)
	if err := cfg.Check(Mode{Test: true}); err != nil {
		return nil, err
	}
	var res TestResult
	err = runJob(ctx, &cfg, jobTest, &res)
	return &res, err
}

// Features runs the TEST net over its source with cfg.Model's weights and
// writes one row per sample with the blobs cfg.Features (and cfg.Label) to
// part files in cfg.Output, then _SUCCESS. Every record appears exactly once.
func Features(ctx context.Context, cfg Config) (_ *FeaturesResult, err error) {
	defer recoverJob(&err)
	if err := cfg.Check(Mode{Features: true}); err != nil {
		return nil, err
	}
	var res FeaturesResult
	err = runJob(ctx, &cfg, jobFeatures, &res)
	return &res, err
}

type jobKind string

const (
	jobTrain    jobKind = "train"
	jobTest     jobKind = "test"
	jobFeatures jobKind = "features"
)

// executor is one member of a job: its rank, the world size and, when the
// world is larger than one, the collective operations.
type executor struct {
	rank, world int
	coll        collective // nil when world == 1
	logf        func(format string, args ...any)
}

// collective is what the jobs need from the cluster besides the gradient
// reducer.
type collective interface {
	SumFloat64(vals []float64) error
	Barrier() error
}

func (e *executor) sum(v []float64) error {
	if e.coll == nil {
		return nil
	}
	return e.coll.SumFloat64(v)
}

func (e *executor) barrier() error {
	if e.coll == nil {
		return nil
	}
	return e.coll.Barrier()
}

func newLogf(w io.Writer, rank int) func(format string, args ...any) {
	if w == nil || rank != 0 {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func loadDefinition(cfg *Config) (*caffepb.SolverParameter, *caffepb.NetParameter, error) {
	sp, np, err := prototxt.LoadSolverAndNet(cfg.Solver)
	if err != nil {
		return nil, nil, err
	}
	return sp, np, nil
}

// train runs this executor's part of a training job through
// distri.RunTrain (which joins the cluster, agrees on the seed, starts every
// replica from rank 0's weights and splits test_iter across executors),
// drawing the training curves on the way.
func (e *executor) train(ctx context.Context, cfg *Config, dc distri.Config, sp *caffepb.SolverParameter, np *caffepb.NetParameter) (*TrainResult, error) {
	curvesBase := cfg.Curves
	if curvesBase == "" {
		switch {
		case cfg.Model != "":
			curvesBase = strings.TrimSuffix(cfg.Model, filepath.Ext(cfg.Model)) + "_curves"
		case sp.GetSnapshotPrefix() != "":
			curvesBase = sp.GetSnapshotPrefix() + "_curves"
		default:
			curvesBase = "cos_curves"
		}
	}
	var curves output.Curves
	display := int(sp.GetDisplay())
	res := &TrainResult{Curves: curvesBase}
	progress := func(p solver.Progress) {
		if display > 0 && p.Iter%display == 0 && !p.Final {
			curves.Add(output.SeriesLoss, p.Iter, float64(p.SmoothedLoss))
			curves.Add(output.SeriesLR, p.Iter, float64(p.LR))
		}
		var test map[string]float64
		for _, t := range p.Test {
			test = map[string]float64{}
			for i, n := range t.Names {
				if len(t.Values[i]) == 1 {
					series := "test_" + n
					if t.Net > 0 {
						series = fmt.Sprintf("test%d_%s", t.Net, n)
					}
					curves.Add(series, t.Iter, float64(t.Values[i][0]))
					test[n] = float64(t.Values[i][0])
				}
			}
			res.Test = test
		}
		if cfg.Progress != nil && e.rank == 0 {
			cfg.Progress(Progress{Iter: p.Iter, MaxIter: p.MaxIter, Loss: float64(p.SmoothedLoss), LR: float64(p.LR), ItersPerSec: p.ItersPerSec, Test: test})
		}
	}
	if e.rank == 0 {
		// Caffe fails at the first snapshot when the prefix's folder is
		// missing, hours into a run; create it (and -model's) up front.
		for _, p := range []string{sp.GetSnapshotPrefix(), cfg.Model, curvesBase} {
			if dir := filepath.Dir(p); p != "" && dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("output folder: %w", err)
				}
			}
		}
	}
	tr, err := distri.RunTrain(ctx, distri.TrainJob{
		Solver:   sp,
		Net:      np,
		Cluster:  dc,
		Snapshot: cfg.Snapshot,
		Weights:  cfg.Weights,
		Model:    cfg.Model,
		Threads:  cfg.Devices,
		Logf:     e.logf,
		Progress: progress,
		Sources: func(rank, world int) layers.SourceOpener {
			return sourceOpener(cfg, rank, world)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Solver, err)
	}
	res.Iter, res.Model = tr.Iter, tr.Model
	if e.rank == 0 {
		if res.Model != "" {
			e.logf("Wrote the trained model to %s", res.Model)
		}
		if err := curves.WriteFiles(curvesBase); err != nil {
			return nil, fmt.Errorf("training curves: %w", err)
		}
		e.logf("Wrote training curves to %s.png and %s.csv", curvesBase, curvesBase)
	}
	return res, nil
}

// testNet builds the first TEST net of the solver with cfg.Model's weights,
// reading this executor's shard of its source.
func (e *executor) testNet(cfg *Config, sp *caffepb.SolverParameter, np *caffepb.NetParameter) (*net.Net, error) {
	tp := np
	if len(sp.GetTestNetParam()) > 0 {
		tp = sp.GetTestNetParam()[0]
	}
	if tp == nil {
		return nil, fmt.Errorf("%s: the solver names no net", cfg.Solver)
	}
	ctx := &layers.Context{Phase: caffepb.Phase_TEST, Sources: sourceOpener(cfg, e.rank, e.world), Threads: cfg.Devices}
	if len(sp.GetTestState()) > 0 {
		tp = cloneNetWithState(tp, sp.GetTestState()[0])
	}
	n, err := net.New(tp, ctx)
	if err != nil {
		return nil, err
	}
	model, err := prototxt.LoadBinaryNet(cfg.Model)
	if err != nil {
		n.Close()
		return nil, err
	}
	missing, _, err := n.CopyTrainedLayersFrom(model)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	if len(missing) > 0 {
		e.logf("WARNING: %s has no weights for layers %s; they keep their filler values", cfg.Model, strings.Join(missing, ", "))
	}
	return n, nil
}

// partialOf finds the data layer that knows where its shard ends.
func partialOf(n *net.Net) (layers.Partial, error) {
	for _, l := range n.Layers() {
		if p, ok := l.(layers.Partial); ok {
			return p, nil
		}
	}
	return nil, fmt.Errorf("net %q has no data layer reading a source (Data or MemoryData): nothing to test or extract", n.Name())
}

// test runs the TEST net over the executor's whole shard once and returns
// the mean of every output blob element, weighting each batch by its number
// of fresh records, summed over executors.
func (e *executor) test(ctx context.Context, cfg *Config, sp *caffepb.SolverParameter, np *caffepb.NetParameter) (*TestResult, error) {
	n, err := e.testNet(cfg, sp, np)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	part, err := partialOf(n)
	if err != nil {
		return nil, err
	}
	outs := n.OutputBlobs()
	offsets := make([]int, len(outs)+1)
	for i, b := range outs {
		offsets[i+1] = offsets[i] + b.Count()
	}
	// sums[k] accumulates value*fresh; the last slot counts records.
	sums := make([]float64, offsets[len(outs)]+1)
	for !part.Exhausted() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := n.Forward(); err != nil {
			return nil, err
		}
		fresh := float64(part.ValidInBatch())
		for i, b := range outs {
			for j, v := range b.Data {
				sums[offsets[i]+j] += float64(v) * fresh
			}
		}
		sums[len(sums)-1] += fresh
	}
	if err := e.sum(sums); err != nil {
		return nil, err
	}
	total := sums[len(sums)-1]
	res := &TestResult{Names: n.OutputNames(), Samples: int(total)}
	for i := range outs {
		v := make([]float32, offsets[i+1]-offsets[i])
		for j := range v {
			v[j] = float32(sums[offsets[i]+j] / total)
		}
		res.Values = append(res.Values, v)
	}
	for i, name := range res.Names {
		e.logf("Test net output #%d: %s = %s", i, name, joinFloats(res.Values[i]))
	}
	if e.rank == 0 && cfg.Output != "" {
		if err := output.WriteTestResult(cfg.Output, res.Names, res.Values); err != nil {
			return nil, err
		}
	}
	return res, e.barrier()
}

func joinFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// features writes this executor's part file: one row per record of its
// shard, each named blob sliced per sample when its first axis is the
// batch, repeated whole otherwise (batch-level outputs such as accuracy, as
// CaffeOnSpark did).
func (e *executor) features(ctx context.Context, cfg *Config, sp *caffepb.SolverParameter, np *caffepb.NetParameter) (*FeaturesResult, error) {
	n, err := e.testNet(cfg, sp, np)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	part, err := partialOf(n)
	if err != nil {
		return nil, err
	}
	columns := append([]string(nil), cfg.Features...)
	if cfg.Label != "" {
		columns = append(columns, cfg.Label)
	}
	blobs := make([]*layers.Blob, len(columns))
	for i, c := range columns {
		if blobs[i] = n.BlobByName(c); blobs[i] == nil {
			return nil, fmt.Errorf("-features/-label: the TEST net of %s has no blob %q (blobs: %s)", cfg.Solver, c, strings.Join(blobNames(n), ", "))
		}
	}
	if e.rank == 0 {
		if err := output.ClearParts(cfg.Output); err != nil {
			return nil, err
		}
	}
	if err := e.barrier(); err != nil {
		return nil, err
	}
	w, err := output.NewFeatureWriter(cfg.Output, e.rank, cfg.OutputFormat, columns)
	if err != nil {
		return nil, err
	}
	batch := n.BatchSize()
	row := make([][]float32, len(columns))
	rows := 0
	for !part.Exhausted() {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return nil, err
		}
		if _, err := n.Forward(); err != nil {
			w.Abort()
			return nil, err
		}
		keys := n.DataKeys()
		fresh := part.ValidInBatch()
		for s := 0; s < fresh; s++ {
			for i, b := range blobs {
				if b.NumAxes() > 0 && b.Shape()[0] == batch && batch > 0 {
					per := b.Count() / batch
					row[i] = b.Data[s*per : (s+1)*per]
				} else {
					row[i] = b.Data
				}
			}
			if err := w.Write(keys[s], row); err != nil {
				w.Abort()
				return nil, err
			}
			rows++
		}
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	total := []float64{float64(rows)}
	if err := e.sum(total); err != nil {
		return nil, err
	}
	if e.rank == 0 {
		if err := output.WriteSuccess(cfg.Output); err != nil {
			return nil, err
		}
		e.logf("Wrote %d feature rows (%s) to %d part files in %s", int(total[0]), strings.Join(columns, ","), e.world, cfg.Output)
	}
	return &FeaturesResult{Rows: int(total[0]), Parts: e.world}, nil
}

func blobNames(n *net.Net) []string {
	var names []string
	for _, b := range n.Blobs() {
		names = append(names, b.Name)
	}
	return names
}

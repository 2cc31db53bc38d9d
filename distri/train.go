package distri

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
	"github.com/cos-project/cos/solver"
)

// TrainJob is one executor's part of a training job. Every executor of the
// job runs RunTrain with the same solver and net.
type TrainJob struct {
	// Solver and Net are the definitions as loaded (prototxt.LoadSolverAndNet).
	Solver *caffepb.SolverParameter
	Net    *caffepb.NetParameter
	// Cluster says how to join the job (Detect, then flags). DefHash is
	// filled in by RunTrain.
	Cluster Config
	// Weights, if set, is a .caffemodel whose layers initialise the net by
	// name before training (fine-tuning; applied after Snapshot).
	Weights string
	// Snapshot, if set, is a .solverstate to resume from. Every executor
	// reads it (and the model it names), so it must be readable on every
	// host; the cluster size may differ from the run that wrote it.
	Snapshot string
	// Model, if set, is where rank 0 writes the trained weights
	// (.caffemodel, written to a temporary name and renamed).
	Model string
	// Persistent keeps each executor's shard in memory after the first
	// epoch (CaffeOnSpark's -persistent).
	Persistent bool
	// Threads is the number of compute threads per executor (0: GOMAXPROCS).
	Threads int
	// Logf receives Caffe's log lines (rank 0 only logs) and cluster notes.
	Logf func(format string, args ...any)
	// Progress is called on every executor after every iteration.
	Progress func(solver.Progress)
	// Sources, if set, replaces the LMDB shard reader: it returns the
	// opener for shard rank of world (tests, in-memory data). Its sources
	// are still checked for holding at least one batch.
	Sources func(rank, world int) layers.SourceOpener
	// After, if set, runs on every executor once training has finished
	// (before rank 0 writes Model), with the trained solver and the live
	// cluster, e.g. to extract features on each executor's shard.
	After func(ctx context.Context, s *solver.Solver, c *Cluster) error
}

// TrainResult describes a finished training job, as seen by one executor.
type TrainResult struct {
	Rank, WorldSize int
	// Iter is the number of iterations done.
	Iter int
	// Model is the file rank 0 wrote ("" on other ranks or when
	// TrainJob.Model is empty).
	Model string
	// Seed is the random seed every executor built its nets with.
	Seed int64
}

// RunTrain runs this executor's part of a synchronous data-parallel training
// job: it joins the cluster (refused if its solver/net differ from rank 0's),
// agrees on a random seed, builds the solver on its shard of each LMDB
// (shard rank of world size, contiguous), starts every replica from rank 0's
// weights, trains with gradients averaged across executors after every
// backward pass, and on rank 0 writes the model. Validation sums the TEST
// nets' outputs over all executors' shards; each executor runs
// ceil(test_iter / world size) test batches, so one test pass covers the
// test set about once as in a single-executor run.
//
// When any executor fails or is lost, every other one returns an error
// naming it (a *PeerError) within the cluster's failure timeout.
func RunTrain(ctx context.Context, job TrainJob) (*TrainResult, error) {
	if job.Solver == nil {
		return nil, errors.New("distri: no solver definition")
	}
	logf := job.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	hash, err := DefinitionHash(job.Solver, job.Net)
	if err != nil {
		return nil, err
	}
	cfg := job.Cluster
	cfg.DefHash = hash
	if cfg.Logf == nil {
		cfg.Logf = job.Logf
	}
	c, err := Join(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res, err := train(ctx, job, c, logf)
	if err != nil {
		c.Abort(err)
		if cerr := c.Err(); cerr != nil && !errors.Is(err, cerr) {
			var pe *PeerError
			if errors.As(cerr, &pe) && pe.Rank != c.Rank() {
				// Name the executor that stopped the job, not the local
				// symptom (a failed all-reduce).
				return nil, fmt.Errorf("%w (here: %v)", cerr, err)
			}
		}
		return nil, err
	}
	if err := c.Close(); err != nil {
		return nil, err
	}
	return res, nil
}

func train(ctx context.Context, job TrainJob, c *Cluster, logf func(string, ...any)) (*TrainResult, error) {
	rank, world := c.Rank(), c.WorldSize()
	sp := proto.Clone(job.Solver).(*caffepb.SolverParameter)

	// Replicas must draw the same initial weights and the same random
	// numbers: without a random_seed every executor would seed from its
	// own clock, so rank 0 picks one for all.
	if sp.GetRandomSeed() < 0 {
		seed := []float64{0}
		if rank == 0 {
			var b [4]byte
			rand.Read(b[:])
			seed[0] = float64(binary.LittleEndian.Uint32(b[:]) >> 1)
		}
		if err := c.SumFloat64(seed); err != nil {
			return nil, err
		}
		sp.RandomSeed = proto.Int64(int64(seed[0]))
	}
	if world > 1 {
		for i, n := range sp.TestIter {
			sp.TestIter[i] = (n + int32(world) - 1) / int32(world)
		}
		if rank == 0 && len(sp.TestIter) > 0 {
			logf("Cluster of %d executors: each runs test_iter %v of its shard of the test data", world, sp.TestIter)
		}
	}

	open := job.Sources
	if open == nil {
		open = func(rank, world int) layers.SourceOpener {
			return lmdb.Opener(rank, world, lmdb.Persistent(job.Persistent))
		}
	}
	var reducer solver.Reducer
	var red *Reducer
	if world > 1 {
		red = c.NewReducer(0)
		defer red.Close()
		reducer = red
	}
	s, err := solver.New(sp, job.Net, solver.Options{
		Sources:  CheckedOpener(open(rank, world)),
		Logf:     job.Logf,
		Reducer:  reducer,
		Rank:     rank,
		Progress: job.Progress,
		Threads:  job.Threads,
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if job.Snapshot != "" {
		if err := s.Restore(job.Snapshot); err != nil {
			return nil, err
		}
	}
	if job.Weights != "" {
		if err := s.LoadWeights(job.Weights); err != nil {
			return nil, err
		}
	}
	if err := BroadcastParams(c, s); err != nil {
		return nil, err
	}
	if err := s.Solve(ctx); err != nil {
		return nil, err
	}
	if job.After != nil {
		if err := job.After(ctx, s, c); err != nil {
			return nil, err
		}
	}
	res := &TrainResult{Rank: rank, WorldSize: world, Iter: s.Iter(), Seed: sp.GetRandomSeed()}
	if rank == 0 && job.Model != "" {
		if err := s.SaveModel(job.Model); err != nil {
			return nil, err
		}
		res.Model = job.Model
	}
	return res, nil
}

// BroadcastParams gives every executor rank 0's learnable weights, so that
// replicas start bit-identical even if their initial weights differ (say
// -weights files that differ between hosts). It is an all-reduce sum in
// which every rank but 0 contributes zeros (x + 0 = x exactly).
func BroadcastParams(c *Cluster, s *solver.Solver) error {
	if c.WorldSize() == 1 {
		return nil
	}
	for _, p := range s.Net().LearnableParams() {
		d := p.Blob.Data[:p.Blob.Count()]
		if c.Rank() != 0 {
			clear(d)
		}
		if err := c.AllReduceSum(d); err != nil {
			return err
		}
	}
	return nil
}

// InsufficientDataError says an executor's shard of a TRAIN source holds
// fewer records than one batch.
type InsufficientDataError struct {
	Layer     string
	Source    string
	Records   int
	BatchSize int
}

func (e *InsufficientDataError) Error() string {
	return fmt.Sprintf("Insufficient training data: layer %q reads %s, which holds %d records, fewer than one batch of %d (use fewer executors, a smaller batch_size, or more data)",
		e.Layer, e.Source, e.Records, e.BatchSize)
}

// CheckedOpener wraps open so that a TRAIN source smaller than its layer's
// batch fails at once with an *InsufficientDataError naming the shard size
// and the batch size (a smaller shard would repeat records within a batch,
// silently changing what the job trains on).
func CheckedOpener(open layers.SourceOpener) layers.SourceOpener {
	return func(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
		src, err := open(lp, phase)
		if err != nil || phase != caffepb.Phase_TRAIN {
			return src, err
		}
		if bs := solver.BatchSize(lp); bs > 0 && src.Len() < bs {
			src.Close()
			return nil, &InsufficientDataError{Layer: lp.GetName(), Source: src.Name(), Records: src.Len(), BatchSize: bs}
		}
		return src, nil
	}
}

// ShardOpener opens shard rank of world of every data layer's LMDB, with
// CheckedOpener's check.
func ShardOpener(rank, world int, persistent bool) layers.SourceOpener {
	return CheckedOpener(lmdb.Opener(rank, world, lmdb.Persistent(persistent)))
}

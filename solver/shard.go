package solver

import (
	"github.com/cos-project/cos/layers"
)

// Section is the part [Lo, Hi) of a param blob's values that one executor
// updates in a sharded update.
type Section struct {
	Blob   *layers.Blob
	Lo, Hi int
}

// ShardedReducer is a Reducer that can split the update among executors
// (ZeRO stage 1): instead of every executor averaging the whole gradient
// and updating the whole net, each one averages and updates its own
// sections, and the new weights are exchanged. The arithmetic per element
// is the same, so the weights are bit-identical to the unsharded update.
//
// A step then goes: Wait; if Shard reports true, the solver updates only
// the sections, calling ReduceSection on each range before it reads its
// diff and UpdatedSection once its new weights are in Data, then
// GatherUpdate. The solver's history is then only current in its own
// sections: before anything reads all of it, AllGather brings the others.
type ShardedReducer interface {
	Reducer
	// EnableShardedUpdate tells the reducer that the solver can update
	// sections. Called before the first step, only when the update of one
	// element needs nothing but that element (no gradient clipping).
	// diffsMovable says that nothing else refers to the params' Diff
	// storage (no param is shared by name), so the reducer may move the
	// diffs into memory of its own (shared with the other executors) and
	// back when it is closed, contents unchanged.
	EnableShardedUpdate(diffsMovable bool)
	// Shard, after Wait, reports whether this step is sharded and, if so,
	// this executor's section of every param the reducer reduced. Params
	// not listed were not reduced and are updated whole.
	Shard() ([]Section, bool)
	// ReduceSection makes diff values [lo, hi) of section i (blob-relative,
	// inside the section) the mean over executors. Disjoint ranges may be
	// reduced concurrently.
	ReduceSection(i, lo, hi int)
	// UpdatedSection says Data values [lo, hi) of section i are updated.
	// Disjoint ranges may be reported concurrently.
	UpdatedSection(i, lo, hi int)
	// GatherUpdate, after every section is updated, copies the other
	// executors' sections of the weights into this replica.
	GatherUpdate() error
	// AllGather makes vals(blob) of every reduced blob equal on all
	// executors, each section taken from the executor that owns it.
	AllGather(vals func(*layers.Blob) []float32) error
}

// shardPlan returns the sections of this step when it is sharded, and
// maps them to params (once: the reducer's sections do not change).
func (s *Solver) shardPlan() ([]Section, bool) {
	if s.sharder == nil {
		return nil, false
	}
	secs, ok := s.sharder.Shard()
	if !ok {
		return nil, false
	}
	if len(s.shardIdx) != len(s.params) || s.shardN != len(secs) {
		idx := make(map[*layers.Blob]int, len(secs))
		for k, sc := range secs {
			idx[sc.Blob] = k
		}
		s.shardIdx = make([]int, len(s.params))
		for i, p := range s.params {
			k, found := idx[p.Blob]
			if !found {
				k = -1
			}
			s.shardIdx[i] = k
		}
		s.shardN = len(secs)
	}
	return secs, true
}

// gatherShards brings the history (and, for snapshot_diff, the diffs) of
// the other executors' sections, after sharded steps left only this
// executor's current. Every executor must call it at the same point, which
// Snapshot's callers do (snapshot iterations and max_iter are the same on
// every executor). The exception is the snapshot Solve writes when its
// context is cancelled: executors that stopped at different iterations
// make the collective fail (the shared-memory plane checks that all
// executors run the same operation) rather than write mixed state.
func (s *Solver) gatherShards() error {
	if s.sharder == nil || !s.historyPartial {
		return nil
	}
	np := len(s.params)
	idx := make(map[*layers.Blob]int, np)
	for i, p := range s.params {
		idx[p.Blob] = i
	}
	for k := 0; k*np < len(s.history); k++ {
		set := s.history[k*np : (k+1)*np]
		err := s.sharder.AllGather(func(b *layers.Blob) []float32 { return set[idx[b]] })
		if err != nil {
			return err
		}
	}
	if s.sp.GetSnapshotDiff() {
		if err := s.sharder.AllGather(func(b *layers.Blob) []float32 { return b.Diff[:b.Count()] }); err != nil {
			return err
		}
	}
	s.historyPartial = false
	return nil
}

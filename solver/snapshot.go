package solver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Snapshot writes <snapshot_prefix>_iter_N.caffemodel (the TRAIN net's
// weights, and diffs with snapshot_diff) and <snapshot_prefix>_iter_N.solverstate
// (iteration, model path, history blobs, current_step), each atomically
// (temporary file then rename), the model first. Only rank 0 writes; other
// ranks return empty names. With snapshot_format: HDF5 in a build with
// -tags hdf5, the files are Caffe's HDF5 ones instead,
// <prefix>_iter_N.caffemodel.h5 and <prefix>_iter_N.solverstate.h5; in a
// build without it, New logs one warning line and the binary format is
// written.
func (s *Solver) Snapshot() (model, state string, err error) {
	// Every rank takes part: after sharded updates the history (and diffs)
	// of the other ranks' sections are elsewhere.
	if err := s.gatherShards(); err != nil {
		return "", "", fmt.Errorf("solver: snapshot: %w", err)
	}
	if s.opts.Rank != 0 {
		return "", "", nil
	}
	prefix := s.sp.GetSnapshotPrefix()
	if prefix == "" {
		return "", "", errors.New("solver: cannot snapshot: snapshot_prefix is not set")
	}
	base := prefix + "_iter_" + strconv.Itoa(s.iter)
	useHDF5 := s.sp.GetSnapshotFormat() == caffepb.SolverParameter_HDF5 && hdf5Files != nil
	model, state = base+".caffemodel", base+".solverstate"
	if useHDF5 {
		model, state = model+".h5", state+".h5"
	}
	if dir := filepath.Dir(model); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", fmt.Errorf("solver: snapshot: %w", err)
		}
	}
	if useHDF5 {
		s.logf("Snapshotting to HDF5 file %s", model)
		if err := hdf5Files.writeModel(model, s.net, s.sp.GetSnapshotDiff()); err != nil {
			return "", "", fmt.Errorf("solver: snapshot: %w", err)
		}
		s.logf("Snapshotting solver state to HDF5 file %s", state)
		if err := hdf5Files.writeState(state, s.stateProto(model)); err != nil {
			return "", "", fmt.Errorf("solver: snapshot: %w", err)
		}
		return model, state, nil
	}
	s.logf("Snapshotting to binary proto file %s", model)
	if err := prototxt.WriteBinary(model, s.net.ToProto(s.sp.GetSnapshotDiff())); err != nil {
		return "", "", fmt.Errorf("solver: snapshot: %w", err)
	}
	s.logf("Snapshotting solver state to binary proto file %s", state)
	if err := prototxt.WriteBinary(state, s.stateProto(model)); err != nil {
		return "", "", fmt.Errorf("solver: snapshot: %w", err)
	}
	return model, state, nil
}

// stateProto is Caffe's SolverState: history blobs shaped like their params.
func (s *Solver) stateProto(model string) *caffepb.SolverState {
	st := &caffepb.SolverState{
		Iter:        proto32(s.iter),
		LearnedNet:  &model,
		CurrentStep: proto32(s.currentStep),
	}
	for j, h := range s.history {
		p := s.params[j%len(s.params)]
		dims := make([]int64, len(p.Blob.Shape()))
		for k, d := range p.Blob.Shape() {
			dims[k] = int64(d)
		}
		st.History = append(st.History, &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: dims}, Data: h})
	}
	return st
}

func proto32(v int) *int32 { x := int32(v); return &x }

// SaveModel writes the TRAIN net's current weights as a binary .caffemodel,
// atomically, whatever the rank (the caller decides who writes). A path
// ending in .h5 gets Caffe's HDF5 model instead (builds with -tags hdf5
// only; otherwise an error).
func (s *Solver) SaveModel(path string) error {
	if isHDF5Path(path) {
		if hdf5Files == nil {
			return fmt.Errorf("solver: save model: %s: %s", path, errNoHDF5)
		}
		if err := hdf5Files.writeModel(path, s.net, false); err != nil {
			return fmt.Errorf("solver: save model: %w", err)
		}
		return nil
	}
	if err := prototxt.WriteBinary(path, s.net.ToProto(false)); err != nil {
		return fmt.Errorf("solver: save model: %w", err)
	}
	return nil
}

// LoadWeights initialises the nets from a binary .caffemodel by layer name
// (fine-tuning; Caffe's -weights): layers absent from the file keep their
// filled values, layers of the file absent from the net are logged and
// ignored. A path ending in .h5 is read as Caffe's HDF5 model (as Caffe's
// CopyTrainedLayersFromHDF5; builds with -tags hdf5 only).
func (s *Solver) LoadWeights(path string) error {
	np, err := s.loadModel(path)
	if err != nil {
		return err
	}
	if err := s.copyWeights(np, path); err != nil {
		return err
	}
	return nil
}

// isHDF5Path tells, as Caffe does, an HDF5 model or state by its suffix.
func isHDF5Path(path string) bool { return strings.HasSuffix(path, ".h5") }

// errNoHDF5 explains why a .h5 file cannot be read or written.
var errNoHDF5 = errors.New("HDF5 files need cos built with -tags hdf5 (and Debian's libhdf5-dev)")

// loadModel reads a .caffemodel, or Caffe's HDF5 model for a .h5 path (as
// a NetParameter holding, per layer of the file, its blobs).
func (s *Solver) loadModel(path string) (*caffepb.NetParameter, error) {
	if !isHDF5Path(path) {
		return prototxt.LoadBinaryNet(path)
	}
	if hdf5Files == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoHDF5)
	}
	return hdf5Files.readModel(path, s.net)
}

// loadState reads a .solverstate, or Caffe's HDF5 state for a .h5 path.
func loadState(path string) (*caffepb.SolverState, error) {
	if !isHDF5Path(path) {
		return prototxt.LoadSolverState(path)
	}
	if hdf5Files == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoHDF5)
	}
	return hdf5Files.readState(path)
}

// hdf5Codec reads and writes Caffe's HDF5 snapshot files. It is set by
// snapshot_hdf5.go in builds with -tags hdf5 and nil otherwise, so that
// the default build needs no C HDF5 library.
type hdf5Codec interface {
	// writeModel writes n's TRAIN weights as Net::ToHDF5 does, atomically.
	writeModel(path string, n *net.Net, writeDiff bool) error
	// writeState writes st as SGDSolver::SnapshotSolverStateToHDF5 does,
	// atomically.
	writeState(path string, st *caffepb.SolverState) error
	// readModel reads an HDF5 model into a NetParameter that
	// net.CopyTrainedLayersFrom copies as Caffe's CopyTrainedLayersFromHDF5
	// would (n supplies the shapes of params shared by name).
	readModel(path string, n *net.Net) (*caffepb.NetParameter, error)
	// readState reads an HDF5 solver state.
	readState(path string) (*caffepb.SolverState, error)
}

// copyWeights copies np into the TEST nets (for their own layers) and the
// TRAIN net, then re-shares the TRAIN weights with the TEST nets.
func (s *Solver) copyWeights(np *caffepb.NetParameter, path string) error {
	for i, tn := range s.testNets {
		if _, _, err := tn.CopyTrainedLayersFrom(np); err != nil {
			return fmt.Errorf("%s: test net #%d: %w", path, i, err)
		}
	}
	_, unused, err := s.net.CopyTrainedLayersFrom(np)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, u := range unused {
		s.logf("Ignoring source layer %s", u)
	}
	for i, tn := range s.testNets {
		if err := tn.ShareWeightsFrom(s.net); err != nil {
			return fmt.Errorf("test net #%d: %w", i, err)
		}
	}
	return nil
}

// Restore continues from a .solverstate (or Caffe's HDF5 .solverstate.h5,
// in builds with -tags hdf5): the iteration, current_step, the history
// blobs and the weights of its learned_net model (binary or .h5, found as
// written, or else relative to the state file's folder). The TRAIN data sources are
// re-positioned to where the interrupted run would have read next (iter ×
// iter_size batches in), so that with a fixed random_seed the continued run
// ends bit-identical to an uninterrupted one; see skipData.
func (s *Solver) Restore(statePath string) error {
	s.logf("Restoring previous solver status from %s", statePath)
	st, err := loadState(statePath)
	if err != nil {
		return fmt.Errorf("solver: restore: %w", err)
	}
	if len(st.History) != len(s.history) {
		return fmt.Errorf("solver: restore: %s holds %d history blobs; the %s solver of this net needs %d",
			statePath, len(st.History), s.method, len(s.history))
	}
	for j, hp := range st.History {
		h := s.history[j]
		p := s.params[j%len(s.params)]
		var n int
		switch {
		case len(hp.Data) > 0 || len(hp.DoubleData) == 0:
			n = len(hp.Data)
		default:
			n = len(hp.DoubleData)
		}
		if n != len(h) {
			return fmt.Errorf("solver: restore: %s: history blob %d has %d values; param %d of layer %q has %d",
				statePath, j, n, p.Index, p.Owner, len(h))
		}
	}
	var model string
	var np *caffepb.NetParameter
	if st.GetLearnedNet() != "" {
		if model, err = findModel(st.GetLearnedNet(), statePath); err != nil {
			return fmt.Errorf("solver: restore: %w", err)
		}
		if np, err = s.loadModel(model); err != nil {
			return fmt.Errorf("solver: restore: %w", err)
		}
	}
	// Re-position the data first: it may rebuild the TRAIN net, whose
	// weights are then overwritten from the model.
	s.iter = int(st.GetIter())
	s.currentStep = int(st.GetCurrentStep())
	if err := s.skipData(); err != nil {
		return fmt.Errorf("solver: restore: %w", err)
	}
	if np != nil {
		if err := s.copyWeights(np, model); err != nil {
			return fmt.Errorf("solver: restore: %w", err)
		}
	}
	s.logf("SGDSolver: restoring history")
	for j, hp := range st.History {
		h := s.history[j]
		if len(hp.Data) > 0 || len(hp.DoubleData) == 0 {
			copy(h, hp.Data)
		} else {
			for k, v := range hp.DoubleData {
				h[k] = float32(v)
			}
		}
	}
	s.historyPartial = false // every rank holds all of it now
	return nil
}

func findModel(learned, statePath string) (string, error) {
	tried := []string{learned}
	if _, err := os.Stat(learned); err == nil {
		return learned, nil
	}
	dir := filepath.Dir(statePath)
	cands := []string{filepath.Join(dir, filepath.Base(learned))}
	if !filepath.IsAbs(learned) {
		cands = append([]string{filepath.Join(dir, learned)}, cands...)
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
		tried = append(tried, c)
	}
	return "", fmt.Errorf("learned_net %q of %s not found (tried %q)", learned, statePath, tried)
}

// BatchSkipper may be implemented by data layers, notably those that read
// ahead: SkipBatches(n) moves the layer's stream so that its next Forward
// returns the batch an uninterrupted run would produce after n more batches,
// discarding anything read ahead. Restore calls it with iter × iter_size on
// every TRAIN layer implementing it; when none does, Restore re-positions the
// TRAIN sources itself (see skipData).
type BatchSkipper interface {
	SkipBatches(n int) error
}

// skipData re-positions the TRAIN data after Restore so that the next
// batch is the one an uninterrupted run would read at iteration s.iter:
// iter × iter_size batches into each TRAIN source (wrapping at the end of the
// shard, as data layers do).
//
// Layers implementing BatchSkipper are asked to do it. Otherwise the solver
// does it through the sources it opened for the TRAIN net: when no record
// has been read yet, it rewinds them and skips lazily on the next read; when
// a layer has already read ahead (the Data layer starts prefetching at
// Setup), it rebuilds the TRAIN net with the same seed, its sources opened
// already positioned, and closes the old one. After Restore, take Net() and
// its params afresh.
//
// Not restored, as in Caffe: random streams (Dropout masks, random crops and
// mirrors) restart from the seed, so nets that draw random numbers while
// training continue with different draws than an uninterrupted run would.
func (s *Solver) skipData() error {
	batches := s.iter * s.iterSize
	found := false
	for _, l := range s.net.Layers() {
		if bs, ok := l.(BatchSkipper); ok {
			found = true
			if err := bs.SkipBatches(batches); err != nil {
				return err
			}
		}
	}
	if found {
		return nil
	}
	read := false
	for _, w := range s.sources {
		read = read || w.touched()
	}
	if !read {
		for _, w := range s.sources {
			if err := w.arm(batches, true); err != nil {
				return err
			}
		}
		return nil
	}
	old, oldSources := s.net, s.sources
	s.sources = nil
	s.skipBatches = batches
	err := s.buildTrain(net.Options{}) // quietly: the user saw it built once
	s.skipBatches = 0
	if err == nil && len(s.params) != len(old.LearnableParams()) {
		err = fmt.Errorf("rebuilt train net has %d params, was %d", len(s.params), len(old.LearnableParams()))
	}
	if err != nil {
		if s.net != old {
			s.net.Close()
		}
		s.net, s.sources = old, oldSources
		s.params = old.LearnableParams()
		old.SetParamsReadyHook(s.paramsReady)
		return err
	}
	for i, tn := range s.testNets {
		if err := tn.ShareWeightsFrom(s.net); err != nil {
			return fmt.Errorf("test net #%d: %w", i, err)
		}
	}
	return old.Close()
}

// skipSource wraps a TRAIN source so the solver can start it some records
// in. The offset holds for the first pass over the shard: a Rewind before
// the end of the shard was reached (the Data layer peeks at the first record
// then rewinds) returns to the offset, a Rewind after the end starts the
// next epoch at record 0.
type skipSource struct {
	layers.Source
	batch   int // records per batch of the layer that opened it (0: unknown)
	mu      sync.Mutex
	offset  int
	pending int
	crossed bool // the end of the shard was reached by a read
	reads   int
	scratch layers.Sample
}

func (s *Solver) wrapSources(open layers.SourceOpener) layers.SourceOpener {
	return func(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
		src, err := open(lp, phase)
		if err != nil || src == nil {
			return src, err
		}
		w := &skipSource{Source: src, batch: BatchSize(lp)}
		if s.skipBatches > 0 {
			if err := w.arm(s.skipBatches, false); err != nil {
				src.Close()
				return nil, err
			}
		}
		s.sources = append(s.sources, w)
		return w, nil
	}
}

// BatchSize is a data layer's batch size (data_param, memory_data_param,
// image_data_param or window_data_param), 0 if it has none.
func BatchSize(lp *caffepb.LayerParameter) int {
	switch {
	case lp.GetDataParam() != nil:
		return int(lp.GetDataParam().GetBatchSize())
	case lp.GetMemoryDataParam() != nil:
		return int(lp.GetMemoryDataParam().GetBatchSize())
	case lp.GetImageDataParam() != nil:
		return int(lp.GetImageDataParam().GetBatchSize())
	case lp.GetWindowDataParam() != nil:
		return int(lp.GetWindowDataParam().GetBatchSize())
	}
	return 0
}

// arm makes the source start batches × batch records in (modulo its length).
func (w *skipSource) arm(batches int, rewind bool) error {
	if batches > 0 && w.batch == 0 {
		return fmt.Errorf("cannot re-position data source %s: its layer's batch_size is unknown", w.Name())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if rewind {
		if err := w.Source.Rewind(); err != nil {
			return fmt.Errorf("re-positioning data source %s: %w", w.Name(), err)
		}
	}
	n := batches * w.batch
	if l := w.Source.Len(); l > 0 {
		n %= l
	} else {
		n = 0 // an empty or unsized shard: nothing sensible to skip
	}
	w.offset, w.pending, w.crossed, w.reads = n, n, false, 0
	return nil
}

func (w *skipSource) touched() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reads > 0 || w.crossed
}

// Next skips pending records, then reads.
func (w *skipSource) Next(smp *layers.Sample) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rewound := false
	for w.pending > 0 {
		err := w.Source.Next(&w.scratch)
		if errors.Is(err, layers.ErrEndOfData) {
			if rewound {
				return fmt.Errorf("data source %s is empty", w.Name())
			}
			rewound = true
			if err := w.Source.Rewind(); err != nil {
				return err
			}
			continue
		}
		rewound = false
		if err != nil {
			return err
		}
		w.pending--
	}
	err := w.Source.Next(smp)
	if errors.Is(err, layers.ErrEndOfData) {
		w.crossed = true
	} else if err == nil {
		w.reads++
	}
	return err
}

// Rewind restarts the shard: at the offset during the first pass, at the
// first record after the end was reached.
func (w *skipSource) Rewind() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.crossed {
		w.pending = 0
	} else {
		w.pending = w.offset
	}
	return w.Source.Rewind()
}

//go:build hdf5

package solver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"gonum.org/v1/hdf5"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// This file is built with -tags hdf5 only: it links the C HDF5 library
// (Debian's libhdf5-dev, through gonum.org/v1/hdf5), which the default
// build must not need. The binding's own #cgo lines already point at
// Debian's serial flavour (/usr/lib/x86_64-linux-gnu/hdf5/serial, whose
// include/ links to /usr/include/hdf5/serial), so no flags are set here.
//
// The layout is Caffe's (Net::ToHDF5, SGDSolver::SnapshotSolverStateToHDF5,
// Net::CopyTrainedLayersFromHDF5, SGDSolver::RestoreSolverStateFromHDF5),
// so files cross between Caffe and cos in both directions:
//
//	model.caffemodel.h5:   /data/<layer>/<k>  float32, the param's N-D shape,
//	                       one group per layer (empty without params), only
//	                       the owner of a param shared by name writes it;
//	                       /diff/<layer>/<k> with snapshot_diff, every param.
//	state.solverstate.h5:  /iter, /current_step  int32 of shape (1,);
//	                       /learned_net  fixed-length NUL-terminated string;
//	                       /history/<i>  float32, the param's shape.

var hdf5Files hdf5Codec = h5codec{}

// h5mu serialises every call into libhdf5: Debian's serial build is not
// guaranteed thread-safe, and tests (or a program running several solvers)
// may snapshot concurrently.
var h5mu sync.Mutex

type h5codec struct{}

// paramKey names a param blob: the layer's name and its index in Params().
type paramKey struct {
	layer string
	index int
}

// checkSnapshotFormat runs once in New, after the nets are built: with
// HDF5 snapshots requested, every TRAIN layer must be able to name an HDF5
// group, which is checked now rather than at the first snapshot, maybe
// hours into training.
func (s *Solver) checkSnapshotFormat() error {
	if s.sp.GetSnapshotFormat() != caffepb.SolverParameter_HDF5 {
		return nil
	}
	if err := checkH5Names(s.net.LayerNames()); err != nil {
		return fmt.Errorf("snapshot_format: HDF5: %w (use snapshot_format: BINARYPROTO for this net)", err)
	}
	return nil
}

// checkH5Names refuses layer names that cannot be HDF5 group names under
// /data: empty, "." , containing '/' (a path separator in HDF5, so Caffe's
// ToHDF5 fails on them too) or repeated.
func checkH5Names(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		switch {
		case n == "" || n == ".":
			return fmt.Errorf("layer name %q cannot name an HDF5 group", n)
		case strings.Contains(n, "/"):
			return fmt.Errorf("layer name %q contains '/', which HDF5 reads as a group path", n)
		case seen[n]:
			return fmt.Errorf("layer name %q is used twice; HDF5 groups need unique names", n)
		}
		seen[n] = true
	}
	return nil
}

func (h5codec) writeModel(path string, n *net.Net, writeDiff bool) error {
	names := n.LayerNames()
	if err := checkH5Names(names); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	owners := map[paramKey]bool{}
	for _, p := range n.LearnableParams() {
		owners[paramKey{p.Owner, p.Index}] = true
	}
	lays := n.Layers()
	return writeH5(path, func(f *hdf5.File) error {
		data, err := f.CreateGroup("data")
		if err != nil {
			return fmt.Errorf("group data: %w", err)
		}
		defer data.Close()
		var diff *hdf5.Group
		if writeDiff {
			if diff, err = f.CreateGroup("diff"); err != nil {
				return fmt.Errorf("group diff: %w", err)
			}
			defer diff.Close()
		}
		for i, name := range names {
			if err := writeLayer(data, diff, name, lays[i].Params(), owners); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeLayer writes one layer's group under data (and under diff when
// diff is not nil).
func writeLayer(data, diff *hdf5.Group, name string, params []*layers.Blob, owners map[paramKey]bool) error {
	g, err := data.CreateGroup(name)
	if err != nil {
		return fmt.Errorf("group data/%s: %w", name, err)
	}
	defer g.Close()
	var dg *hdf5.Group
	if diff != nil {
		if dg, err = diff.CreateGroup(name); err != nil {
			return fmt.Errorf("group diff/%s: %w", name, err)
		}
		defer dg.Close()
	}
	for k, b := range params {
		key := strconv.Itoa(k)
		// A param shared by name is stored once, by its owner, as Caffe
		// does; the diffs are written for every param.
		if owners[paramKey{name, k}] {
			if err := writeFloats(&g.CommonFG, key, b.Shape(), b.Data); err != nil {
				return fmt.Errorf("data/%s/%s: %w", name, key, err)
			}
		}
		if dg != nil {
			if err := writeFloats(&dg.CommonFG, key, b.Shape(), b.Diff); err != nil {
				return fmt.Errorf("diff/%s/%s: %w", name, key, err)
			}
		}
	}
	return nil
}

func (h5codec) writeState(path string, st *caffepb.SolverState) error {
	return writeH5(path, func(f *hdf5.File) error {
		if err := writeInt(&f.CommonFG, "iter", st.GetIter()); err != nil {
			return err
		}
		if err := writeString(&f.CommonFG, "learned_net", st.GetLearnedNet()); err != nil {
			return err
		}
		if err := writeInt(&f.CommonFG, "current_step", st.GetCurrentStep()); err != nil {
			return err
		}
		g, err := f.CreateGroup("history")
		if err != nil {
			return fmt.Errorf("group history: %w", err)
		}
		defer g.Close()
		for i, h := range st.History {
			dims := h.GetShape().GetDim()
			shape := make([]int, len(dims))
			for k, d := range dims {
				shape[k] = int(d)
			}
			key := strconv.Itoa(i)
			if err := writeFloats(&g.CommonFG, key, shape, h.GetData()); err != nil {
				return fmt.Errorf("history/%s: %w", key, err)
			}
		}
		return nil
	})
}

// writeH5 creates an HDF5 file under a temporary name in path's folder,
// lets fill write it, flushes it to disk and renames it to path, so that a
// crash never leaves a half-written file under the final name.
func writeH5(path string, fill func(*hdf5.File) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tf, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := tf.Name()
	tf.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err = fillH5(tmp, fill); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// libhdf5 closes without fsync; sync before the rename makes the new
	// name point at complete data.
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: some file systems refuse fsync on folders
		d.Close()
	}
	return nil
}

func fillH5(name string, fill func(*hdf5.File) error) error {
	h5mu.Lock()
	defer h5mu.Unlock()
	f, err := hdf5.CreateFile(name, hdf5.F_ACC_TRUNC)
	if err != nil {
		return err
	}
	ferr := fill(f)
	cerr := f.Close()
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		return fmt.Errorf("closing: %w", cerr)
	}
	return nil
}

// dataspace is a simple dataspace of shape, or a scalar one for a 0-axis
// blob (Caffe's H5LTmake_dataset with rank 0).
func dataspace(shape []int) (*hdf5.Dataspace, error) {
	if len(shape) == 0 {
		return hdf5.CreateDataspace(hdf5.S_SCALAR)
	}
	dims := make([]uint, len(shape))
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
		dims[i] = uint(d)
	}
	return hdf5.CreateSimpleDataspace(dims, nil)
}

// writeFloats writes vals as a float32 dataset of the given shape (Caffe's
// hdf5_save_nd_dataset: H5LTmake_dataset_float).
func writeFloats(loc *hdf5.CommonFG, name string, shape []int, vals []float32) error {
	count := 1
	for _, d := range shape {
		count *= d
	}
	if count != len(vals) {
		// The C library would read count values from vals: never let it
		// run past the slice.
		return fmt.Errorf("shape %v holds %d values, the blob has %d", shape, count, len(vals))
	}
	space, err := dataspace(shape)
	if err != nil {
		return err
	}
	defer space.Close()
	ds, err := loc.CreateDataset(name, hdf5.T_NATIVE_FLOAT, space)
	if err != nil {
		return err
	}
	defer ds.Close()
	if count == 0 {
		return nil
	}
	return ds.Write(&vals)
}

// writeInt writes v as an int32 dataset of shape (1,), as Caffe's
// hdf5_save_int does.
func writeInt(loc *hdf5.CommonFG, name string, v int32) error {
	space, err := hdf5.CreateSimpleDataspace([]uint{1}, nil)
	if err != nil {
		return err
	}
	defer space.Close()
	ds, err := loc.CreateDataset(name, hdf5.T_NATIVE_INT32, space)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer ds.Close()
	buf := []int32{v}
	if err := ds.Write(&buf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// writeString writes s as a scalar fixed-length, NUL-terminated string,
// as Caffe's hdf5_save_string (H5LTmake_dataset_string) does; Caffe reads
// nothing else back.
func writeString(loc *hdf5.CommonFG, name, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s: string %q holds a NUL byte", name, s)
	}
	t, err := hdf5.T_C_S1.Copy()
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.SetSize(len(s) + 1); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	space, err := hdf5.CreateDataspace(hdf5.S_SCALAR)
	if err != nil {
		return err
	}
	defer space.Close()
	ds, err := loc.CreateDataset(name, t, space)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer ds.Close()
	buf := append([]byte(s), 0)
	if err := ds.Write(&buf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// openH5 opens path read-only, with plain errors for a missing file or one
// that is not HDF5 (libhdf5 would print its error stack instead).
func openH5(path string) (*hdf5.File, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	if !hdf5.IsHDF5(path) {
		return nil, fmt.Errorf("%s: not an HDF5 file", path)
	}
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (h5codec) readModel(path string, n *net.Net) (*caffepb.NetParameter, error) {
	h5mu.Lock()
	defer h5mu.Unlock()
	f, err := openH5(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	np, err := readModelFile(f, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return np, nil
}

// readModelFile turns /data into a NetParameter for
// net.CopyTrainedLayersFrom, checking what Caffe's
// CopyTrainedLayersFromHDF5 checks: a layer of the net found in the file
// may not have more datasets than params, and each of its params needs
// dataset <k> unless it is shared by name from another layer (Caffe writes
// those once, under the owner). The blob of such a shared param is then
// the owner's from the file, or the net's current value when the file does
// not hold the owner, so the copy leaves the sharing intact.
func readModelFile(f *hdf5.File, n *net.Net) (*caffepb.NetParameter, error) {
	if !f.LinkExists("data") {
		return nil, errors.New(`no group "data": not a Caffe HDF5 model`)
	}
	data, err := f.OpenGroup("data")
	if err != nil {
		return nil, fmt.Errorf("group data: %w", err)
	}
	defer data.Close()
	names, err := groupMembers(&data.CommonFG, "data", hdf5.H5G_GROUP)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, name := range n.LayerNames() {
		if _, ok := index[name]; !ok {
			index[name] = i
		}
	}
	users := sharedUsers(n)
	type fill struct {
		blob  *caffepb.BlobProto
		owner paramKey
		cur   []float32
	}
	var fills []fill
	np := &caffepb.NetParameter{}
	byName := map[string]*caffepb.LayerParameter{}
	for _, name := range names {
		g, err := data.OpenGroup(name)
		if err != nil {
			return nil, fmt.Errorf("group data/%s: %w", name, err)
		}
		lp := &caffepb.LayerParameter{Name: proto.String(name)}
		links, err := g.NumObjects()
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("group data/%s: %w", name, err)
		}
		i, inNet := index[name]
		want := int(links)
		var params []*layers.Blob
		if inNet {
			params = n.Layers()[i].Params()
			if want > len(params) {
				g.Close()
				return nil, fmt.Errorf("layer %s: the file holds %d datasets, the net's %s layer has %d params",
					name, want, n.Layers()[i].Type(), len(params))
			}
			want = len(params)
		}
		for k := 0; k < want; k++ {
			key := strconv.Itoa(k)
			if !g.LinkExists(key) {
				if owner, ok := users[paramKey{name, k}]; ok && inNet {
					bp := &caffepb.BlobProto{Shape: shapeProto(params[k].Shape())}
					fills = append(fills, fill{bp, owner, params[k].Data})
					lp.Blobs = append(lp.Blobs, bp)
					continue
				}
				g.Close()
				return nil, fmt.Errorf("layer %s: no dataset data/%s/%s (incompatible number of blobs)", name, name, key)
			}
			dims, vals, err := readFloats(&g.CommonFG, key)
			if err != nil {
				g.Close()
				return nil, fmt.Errorf("data/%s/%s: %w", name, key, err)
			}
			lp.Blobs = append(lp.Blobs, &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: dims}, Data: vals})
		}
		g.Close()
		np.Layer = append(np.Layer, lp)
		byName[name] = lp
	}
	for _, fl := range fills {
		src := fl.cur
		if lp := byName[fl.owner.layer]; lp != nil && fl.owner.index < len(lp.Blobs) && len(lp.Blobs[fl.owner.index].Data) == len(fl.cur) {
			src = lp.Blobs[fl.owner.index].Data
		}
		fl.blob.Data = append([]float32(nil), src...)
	}
	return np, nil
}

// sharedUsers maps each param that uses another layer's storage (shared
// by ParamSpec name) to its owner.
func sharedUsers(n *net.Net) map[paramKey]paramKey {
	first := map[string]*net.Param{}
	for _, p := range n.LearnableParams() {
		if p.Name != "" {
			if _, ok := first[p.Name]; !ok {
				first[p.Name] = p
			}
		}
	}
	users := map[paramKey]paramKey{}
	for i, name := range n.LayerNames() {
		for k, spec := range n.LayerParam(i).GetParam() {
			o := first[spec.GetName()]
			if spec.GetName() == "" || o == nil || (o.Owner == name && o.Index == k) {
				continue
			}
			users[paramKey{name, k}] = paramKey{o.Owner, o.Index}
		}
	}
	return users
}

func shapeProto(shape []int) *caffepb.BlobShape {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	return &caffepb.BlobShape{Dim: dims}
}

func (h5codec) readState(path string) (*caffepb.SolverState, error) {
	h5mu.Lock()
	defer h5mu.Unlock()
	f, err := openH5(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := readStateFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func readStateFile(f *hdf5.File) (*caffepb.SolverState, error) {
	st := &caffepb.SolverState{}
	iter, err := readInt(&f.CommonFG, "iter")
	if err != nil {
		return nil, err
	}
	st.Iter = proto.Int32(iter)
	// learned_net is optional, as in Caffe's RestoreSolverStateFromHDF5.
	if f.LinkExists("learned_net") {
		s, err := readString(&f.CommonFG, "learned_net")
		if err != nil {
			return nil, err
		}
		st.LearnedNet = proto.String(s)
	}
	step, err := readInt(&f.CommonFG, "current_step")
	if err != nil {
		return nil, err
	}
	st.CurrentStep = proto.Int32(step)
	if !f.LinkExists("history") {
		return nil, errors.New(`no group "history": not a Caffe HDF5 solver state`)
	}
	g, err := f.OpenGroup("history")
	if err != nil {
		return nil, fmt.Errorf("group history: %w", err)
	}
	defer g.Close()
	links, err := g.NumObjects()
	if err != nil {
		return nil, fmt.Errorf("group history: %w", err)
	}
	for i := 0; i < int(links); i++ {
		key := strconv.Itoa(i)
		if !g.LinkExists(key) {
			return nil, fmt.Errorf("group history holds %d members but no dataset %q", links, key)
		}
		dims, vals, err := readFloats(&g.CommonFG, key)
		if err != nil {
			return nil, fmt.Errorf("history/%s: %w", key, err)
		}
		st.History = append(st.History, &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: dims}, Data: vals})
	}
	return st, nil
}

// groupMembers lists a group's member names (in HDF5's name order), all of
// which must be of type want.
func groupMembers(g *hdf5.CommonFG, path string, want hdf5.GType) ([]string, error) {
	n, err := g.NumObjects()
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", path, err)
	}
	names := make([]string, 0, n)
	for i := uint(0); i < n; i++ {
		name, err := g.ObjectNameByIndex(i)
		if err != nil {
			return nil, fmt.Errorf("group %s member %d: %w", path, i, err)
		}
		typ, err := g.ObjectTypeByIndex(i)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", path, name, err)
		}
		if typ != want {
			return nil, fmt.Errorf("%s/%s is a %v, want a %v", path, name, typ, want)
		}
		names = append(names, name)
	}
	return names, nil
}

// openDataset opens a dataset with a plain error when it is absent.
func openDataset(loc *hdf5.CommonFG, name string) (*hdf5.Dataset, *hdf5.Dataspace, int, error) {
	if !loc.LinkExists(name) {
		return nil, nil, 0, fmt.Errorf("no dataset %q", name)
	}
	ds, err := loc.OpenDataset(name)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("dataset %s: %w", name, err)
	}
	space := ds.Space()
	if space == nil {
		ds.Close()
		return nil, nil, 0, fmt.Errorf("dataset %s: no dataspace", name)
	}
	switch space.SimpleExtentType() {
	case hdf5.S_SCALAR, hdf5.S_SIMPLE:
	default:
		space.Close()
		ds.Close()
		return nil, nil, 0, fmt.Errorf("dataset %s holds no values", name)
	}
	return ds, space, space.SimpleExtentNPoints(), nil
}

// readFloats reads a float32 or float64 dataset (Caffe reads both) as
// float32 values with its dimensions.
func readFloats(loc *hdf5.CommonFG, name string) ([]int64, []float32, error) {
	ds, space, count, err := openDataset(loc, name)
	if err != nil {
		return nil, nil, err
	}
	defer ds.Close()
	defer space.Close()
	var dims []int64
	if space.SimpleExtentType() == hdf5.S_SIMPLE && space.SimpleExtentNDims() > 0 {
		d, _, err := space.SimpleExtentDims()
		if err != nil {
			return nil, nil, err
		}
		dims = make([]int64, len(d))
		for i, v := range d {
			dims[i] = int64(v)
		}
	}
	dt, err := ds.Datatype()
	if err != nil {
		return nil, nil, err
	}
	defer dt.Close()
	// Dataset.Read uses the file's type as the memory type, so the Go
	// buffer must match it exactly: native (little-endian here) float or
	// double, the types Caffe and h5py write.
	vals := make([]float32, count)
	switch {
	case dt.Equal(hdf5.T_NATIVE_FLOAT):
		if count > 0 {
			if err := ds.Read(&vals); err != nil {
				return nil, nil, err
			}
		}
	case dt.Equal(hdf5.T_NATIVE_DOUBLE):
		d := make([]float64, count)
		if count > 0 {
			if err := ds.Read(&d); err != nil {
				return nil, nil, err
			}
		}
		for i, v := range d {
			vals[i] = float32(v)
		}
	default:
		return nil, nil, fmt.Errorf("holds %v values of %d bytes; want native float32 or float64", dt.Class(), dt.Size())
	}
	return dims, vals, nil
}

// readInt reads a one-value int32 or int64 dataset (Caffe's hdf5_load_int).
func readInt(loc *hdf5.CommonFG, name string) (int32, error) {
	ds, space, count, err := openDataset(loc, name)
	if err != nil {
		return 0, err
	}
	defer ds.Close()
	defer space.Close()
	if count != 1 {
		return 0, fmt.Errorf("dataset %s holds %d values, want 1", name, count)
	}
	dt, err := ds.Datatype()
	if err != nil {
		return 0, err
	}
	defer dt.Close()
	switch {
	case dt.Equal(hdf5.T_NATIVE_INT32):
		v := make([]int32, 1)
		if err := ds.Read(&v); err != nil {
			return 0, fmt.Errorf("dataset %s: %w", name, err)
		}
		return v[0], nil
	case dt.Equal(hdf5.T_NATIVE_INT64):
		v := make([]int64, 1)
		if err := ds.Read(&v); err != nil {
			return 0, fmt.Errorf("dataset %s: %w", name, err)
		}
		if int64(int32(v[0])) != v[0] {
			return 0, fmt.Errorf("dataset %s: %d does not fit an int32", name, v[0])
		}
		return int32(v[0]), nil
	}
	return 0, fmt.Errorf("dataset %s holds %v values of %d bytes; want a native int32 or int64", name, dt.Class(), dt.Size())
}

// readString reads a scalar fixed-length string (Caffe's hdf5_load_string).
func readString(loc *hdf5.CommonFG, name string) (string, error) {
	ds, space, count, err := openDataset(loc, name)
	if err != nil {
		return "", err
	}
	defer ds.Close()
	defer space.Close()
	dt, err := ds.Datatype()
	if err != nil {
		return "", err
	}
	defer dt.Close()
	if dt.Class() != hdf5.T_STRING || count != 1 {
		return "", fmt.Errorf("dataset %s is not one string", name)
	}
	vl := hdf5.VarLenType{Datatype: *dt}
	if vl.IsVariableStr() {
		// Caffe reads fixed-length strings only, and Dataset.Read cannot
		// follow the C pointer a variable-length one is made of.
		return "", fmt.Errorf("dataset %s is a variable-length string; want a fixed-length one as Caffe writes", name)
	}
	buf := make([]byte, dt.Size())
	if len(buf) > 0 {
		if err := ds.Read(&buf); err != nil {
			return "", fmt.Errorf("dataset %s: %w", name, err)
		}
	}
	if i := strings.IndexByte(string(buf), 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf), nil
}

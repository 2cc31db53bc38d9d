package prototxt

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// schemeRE matches a URL scheme prefix such as "hdfs:" or "file:".
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.\-]*):`)

// ErrRemotePath is wrapped by the error ResolvePath returns for a remote URL
// (hdfs://, s3://, wasb://, http://, ...).
var ErrRemotePath = errors.New("remote data paths are not supported")

// ErrNotFound is wrapped by the error ResolvePath returns when the path
// exists in none of the places tried.
var ErrNotFound = errors.New("not found")

// LocalPath strips a file: URL down to a local path and rejects other
// schemes with an error saying to mount or copy the data. Accepted: plain
// paths, file:/abs, file:///abs, file://localhost/abs, file:rel. Every
// path a user gives cos (solver, model, weights, snapshot, output) goes
// through it.
func LocalPath(p string) (string, error) {
	m := schemeRE.FindStringSubmatch(p)
	if m == nil {
		return p, nil
	}
	scheme := strings.ToLower(m[1])
	if scheme != "file" {
		return "", fmt.Errorf("%q: %w (scheme %s:): cos reads local files only; mount the data (e.g. an HDFS FUSE or NFS mount) or copy it to local disk, and give a local path or a file: URL", p, ErrRemotePath, scheme)
	}
	rest := p[len(m[0]):]
	if !strings.HasPrefix(rest, "//") {
		return rest, nil // file:/abs or file:rel
	}
	u, err := url.Parse(p)
	if err != nil {
		return "", fmt.Errorf("%q: bad file URL: %v", p, err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("%q: %w (file URL names host %q): use a path on this machine", p, ErrRemotePath, u.Host)
	}
	if u.Path == "" {
		return "", fmt.Errorf("%q: file URL without a path", p)
	}
	return u.Path, nil
}

// ResolvePath finds a data or definition file named in a solver or net.
// p is a plain path or a file: URL (file:/abs, file:///abs, file:rel);
// other URL schemes (hdfs://, wasb://, s3://, ...) are rejected with an error
// saying to mount or copy the data locally. An absolute path must exist. A
// relative path is tried first from the working directory (as Caffe does),
// then relative to solverDir (if not empty). The result is absolute and
// cleaned. When nothing exists, the error lists every place tried.
func ResolvePath(p string, solverDir string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("empty path")
	}
	lp, err := LocalPath(p)
	if err != nil {
		return "", err
	}
	if lp == "" {
		return "", fmt.Errorf("%q: empty path", p)
	}
	var tried []string
	if filepath.IsAbs(lp) {
		tried = append(tried, filepath.Clean(lp))
	} else {
		if abs, err := filepath.Abs(lp); err == nil {
			tried = append(tried, abs)
		}
		if solverDir != "" {
			dir, err := filepath.Abs(solverDir)
			if err == nil {
				c := filepath.Join(dir, lp)
				if len(tried) == 0 || tried[0] != c {
					tried = append(tried, c)
				}
			}
		}
	}
	for _, c := range tried {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%q %w; tried: %s", p, ErrNotFound, strings.Join(tried, ", "))
}

// LoadSolverAndNet loads the solver at solverPath and its train net, from
// `net` / `train_net` (a file, found by ResolvePath relative to the working
// directory, then next to the solver) or from inline `net_param` /
// `train_net_param`. Exactly one of the four must be given, as in Caffe.
//
// In the returned net every data path (data_param, memory_data_param,
// image_data_param, window_data_param, hdf5_data_param, cos_data_param
// source, infogain_loss_param source, and every mean_file) is rewritten to
// its resolved absolute path; a path that cannot be found is an error naming
// the layer and the places tried. Separate test nets (`test_net` files and
// inline `test_net_param`) are loaded and resolved the same way and returned
// in the solver's TestNetParam, in Caffe's order (inline first, then files),
// with TestNet cleared. Output paths (snapshot_prefix, hdf5_output_param) are
// left as written, relative to the working directory like Caffe.
func LoadSolverAndNet(solverPath string) (*caffepb.SolverParameter, *caffepb.NetParameter, error) {
	sp, err := LoadSolver(solverPath)
	if err != nil {
		return nil, nil, err
	}
	solverDir := filepath.Dir(solverPath)

	var given []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"train_net_param", sp.TrainNetParam != nil},
		{"train_net", sp.TrainNet != nil},
		{"net_param", sp.NetParam != nil},
		{"net", sp.Net != nil},
	} {
		if f.set {
			given = append(given, f.name)
		}
	}
	if len(given) != 1 {
		if len(given) == 0 {
			return nil, nil, fmt.Errorf("%s: no train net: set one of net, train_net, net_param, train_net_param", solverPath)
		}
		return nil, nil, fmt.Errorf("%s: several train nets given (%s); set only one", solverPath, strings.Join(given, ", "))
	}

	loadFile := func(field, p string) (*caffepb.NetParameter, error) {
		rp, err := ResolvePath(p, solverDir)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", solverPath, field, err)
		}
		return LoadNet(rp)
	}

	var net *caffepb.NetParameter
	switch given[0] {
	case "train_net_param":
		net = proto.Clone(sp.TrainNetParam).(*caffepb.NetParameter)
	case "net_param":
		net = proto.Clone(sp.NetParam).(*caffepb.NetParameter)
	case "train_net":
		if net, err = loadFile("train_net", sp.GetTrainNet()); err != nil {
			return nil, nil, err
		}
	case "net":
		if net, err = loadFile("net", sp.GetNet()); err != nil {
			return nil, nil, err
		}
	}
	if err := ResolveDataPaths(net, solverDir); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", netLabel(sp, given[0]), err)
	}

	for i, tn := range sp.TestNetParam {
		if err := ResolveDataPaths(tn, solverDir); err != nil {
			return nil, nil, fmt.Errorf("%s: test_net_param #%d: %w", solverPath, i, err)
		}
	}
	for _, f := range sp.TestNet {
		tn, err := loadFile("test_net", f)
		if err != nil {
			return nil, nil, err
		}
		if err := ResolveDataPaths(tn, solverDir); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		sp.TestNetParam = append(sp.TestNetParam, tn)
	}
	sp.TestNet = nil
	return sp, net, nil
}

func netLabel(sp *caffepb.SolverParameter, field string) string {
	switch field {
	case "net":
		return sp.GetNet()
	case "train_net":
		return sp.GetTrainNet()
	}
	return field
}

// ResolveDataPaths rewrites, in place, every data path of net's layers (see
// LoadSolverAndNet) to its absolute path found by ResolvePath. The error
// names the layer, the field and the places tried.
func ResolveDataPaths(net *caffepb.NetParameter, solverDir string) error {
	for i, l := range net.GetLayer() {
		for _, ref := range dataPaths(l) {
			if *ref.p == nil || **ref.p == "" {
				continue
			}
			rp, err := ResolvePath(**ref.p, solverDir)
			if err != nil {
				return fmt.Errorf("layer %s: %s: %w", layerLabel(l, i), ref.field, err)
			}
			*ref.p = proto.String(rp)
		}
	}
	return nil
}

type pathRef struct {
	field string
	p     **string
}

// dataPaths lists the input-file fields set in l.
func dataPaths(l *caffepb.LayerParameter) []pathRef {
	var refs []pathRef
	add := func(field string, p **string) { refs = append(refs, pathRef{field, p}) }
	if x := l.DataParam; x != nil {
		add("data_param.source", &x.Source)
		add("data_param.mean_file", &x.MeanFile)
	}
	if x := l.MemoryDataParam; x != nil {
		add("memory_data_param.source", &x.Source)
	}
	if x := l.ImageDataParam; x != nil {
		add("image_data_param.source", &x.Source)
		add("image_data_param.mean_file", &x.MeanFile)
	}
	if x := l.WindowDataParam; x != nil {
		add("window_data_param.source", &x.Source)
		add("window_data_param.mean_file", &x.MeanFile)
	}
	if x := l.Hdf5DataParam; x != nil {
		add("hdf5_data_param.source", &x.Source)
	}
	if x := l.InfogainLossParam; x != nil {
		add("infogain_loss_param.source", &x.Source)
	}
	if x := l.TransformParam; x != nil {
		add("transform_param.mean_file", &x.MeanFile)
	}
	if x := l.CosDataParam; x != nil {
		add("cos_data_param.source", &x.Source)
		for j, t := range x.Top {
			if t.TransformParam != nil {
				add(fmt.Sprintf("cos_data_param.top[%d].transform_param.mean_file", j), &t.TransformParam.MeanFile)
			}
		}
	}
	return refs
}

// SolverWarnings returns one line per solver setting that cos accepts but
// does not honour, for the caller to print. snapshot_format: HDF5 is not
// among them: whether it is honoured depends on how cos was built (-tags
// hdf5), which the solver package knows and reports.
func SolverWarnings(sp *caffepb.SolverParameter) []string {
	var w []string
	if sp == nil {
		return nil
	}
	if sp.SolverMode != nil && sp.GetSolverMode() == caffepb.SolverParameter_GPU {
		w = append(w, "solver_mode: GPU requested; cos trains on CPU")
	}
	if sp.DeviceId != nil && sp.GetDeviceId() != 0 {
		w = append(w, fmt.Sprintf("device_id: %d ignored; cos trains on CPU", sp.GetDeviceId()))
	}
	return w
}

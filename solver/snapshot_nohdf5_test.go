//go:build !hdf5

package solver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cos-project/cos/prototxt"
)

// Without -tags hdf5, snapshot_format: HDF5 is reported in one warning
// line (naming the tag that would honour it) and binary files are written;
// .h5 files are refused with an error naming the tag.
func TestHDF5RequestedWithoutTag(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "tiny")
	var log logBuf
	s := newSolver(t, fmt.Sprintf(`base_lr: 0.01 lr_policy: "fixed" random_seed: 2 max_iter: 6
		snapshot: 3 snapshot_prefix: %q snapshot_format: HDF5`, prefix), 10, Options{Logf: log.logf})
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := log.count(`^snapshot_format: HDF5 .*-tags hdf5.*BINARYPROTO$`); n != 1 {
		t.Errorf("%d HDF5 warnings, want 1:\n%s", n, strings.Join(log.lines, "\n"))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "[tiny_iter_3.caffemodel tiny_iter_3.solverstate tiny_iter_6.caffemodel tiny_iter_6.solverstate]"; fmt.Sprint(names) != want {
		t.Fatalf("files %v, want %s", names, want)
	}
	if _, err := prototxt.LoadBinaryNet(prefix + "_iter_6.caffemodel"); err != nil {
		t.Errorf("binary model: %v", err)
	}

	// A BINARYPROTO solver logs no HDF5 warning.
	var quiet logBuf
	newSolver(t, `base_lr: 0.01 lr_policy: "fixed" snapshot_format: BINARYPROTO`, 10, Options{Logf: quiet.logf})
	if n := quiet.count(`HDF5`); n != 0 {
		t.Errorf("%d HDF5 lines for a BINARYPROTO solver", n)
	}

	for _, err := range []error{
		s.LoadWeights(filepath.Join(dir, "m.caffemodel.h5")),
		s.Restore(filepath.Join(dir, "m.solverstate.h5")),
		s.SaveModel(filepath.Join(dir, "m.caffemodel.h5")),
	} {
		if err == nil || !strings.Contains(err.Error(), "-tags hdf5") {
			t.Errorf(".h5 file without the tag: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.caffemodel.h5")); !os.IsNotExist(err) {
		t.Errorf("SaveModel wrote an .h5 file without HDF5 support: %v", err)
	}
}

//go:build !hdf5

package solver

import "github.com/cos-project/cos/prototxt/caffepb"

// hdf5Files is nil in builds without -tags hdf5: Snapshot writes the binary
// format, and .h5 models and states are refused with errNoHDF5.
var hdf5Files hdf5Codec

// noHDF5Warning is the one line New logs when a solver asks for HDF5
// snapshots that this build cannot write.
const noHDF5Warning = "snapshot_format: HDF5 not supported by this build of cos (rebuild with -tags hdf5 to get HDF5 snapshots); snapshots are written as BINARYPROTO"

// checkSnapshotFormat runs once in New, after the nets are built: without
// HDF5 support, a request for it is reported in one warning line.
func (s *Solver) checkSnapshotFormat() error {
	if s.sp.GetSnapshotFormat() == caffepb.SolverParameter_HDF5 {
		s.logf("%s", noHDF5Warning)
	}
	return nil
}

// Package solver holds Caffe's solvers: the optimisation loop that trains a
// net described by a SolverParameter.
//
// A Solver builds the TRAIN net and the TEST net(s) (which share the TRAIN
// net's weights), then runs Caffe's iteration: zero the parameter gradients,
// run iter_size forward/backward passes, let an optional Reducer average the
// gradients across executors, then clip (clip_gradients), normalise by
// iter_size, regularise (weight_decay, L2 or L1, scaled by each param's
// decay_mult) and apply the update rule of the solver type (SGD, Nesterov,
// AdaGrad, RMSProp, AdaDelta, Adam) at the learning rate of the lr_policy
// (fixed, step, exp, inv, multistep, poly, sigmoid) times the param's lr_mult.
// The arithmetic is Caffe's, operation by operation, in float32; the
// per-parameter steps are fused into one pass over each blob and the
// history blobs are allocated once, so a step allocates nothing.
//
// The solver also runs the test loop (test_interval, test_iter, averages of
// every output blob element), logs Caffe's lines (display, average_loss),
// writes snapshots (<prefix>_iter_N.caffemodel and .solverstate, atomically)
// and restores from a .solverstate so that a run stopped at iteration N and
// restored continues exactly as an uninterrupted run would.
//
// Caffe's HDF5 snapshots (snapshot_format: HDF5: .caffemodel.h5 and
// .solverstate.h5, and loading .h5 models and states) need the C HDF5
// library and are compiled in with -tags hdf5 only (snapshot_hdf5.go, via
// gonum.org/v1/hdf5 and Debian's libhdf5-dev); the default build writes
// the binary format instead and says so in one warning line.
//
// The solver knows nothing of the cluster: distributed training plugs in
// through the Reducer interface (see Options).
package solver

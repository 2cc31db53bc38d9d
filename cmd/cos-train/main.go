// Command cos-train runs CaffeOnSpark's jobs natively: train a Caffe net
// from its solver prototxt, test a trained model, or extract per-sample
// features, on one executor or a cluster of executors (see -h).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	cos "github.com/cos-project/cos"
)

const usageHead = `cos-train trains, tests and extracts features from Caffe nets, natively (no JVM,
Spark or C++ Caffe), with CaffeOnSpark's flags.

Usage:
  cos-train -train -conf solver.prototxt [-model out.caffemodel] [-clusterSize N] ...
  cos-train -test -conf solver.prototxt -model trained.caffemodel [-output dir]
  cos-train -features a,b -label label -conf solver.prototxt -model m.caffemodel -output dir
  (-train with -features trains first, then extracts features with the trained weights.)

Where cos differs from CaffeOnSpark, on purpose:
  -connection defaults to ethernet (CaffeOnSpark defaulted to RDMA, so every ethernet
     user had to pass -connection ethernet); infiniband is refused with a clear error.
  -snapshot alone resumes training: the .solverstate names its own .caffemodel
     (-weights may still be given to override the weights).
  -clusterSize is the only source of the cluster size (no separate Spark executor count).
  -features covers every test sample exactly once, including each partition's last
     partial batch (CaffeOnSpark dropped it).

Flags:
`

type options struct {
	cfg      cos.Config
	train    bool
	test     bool
	features string
	quiet    bool
	resize   bool
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cos-train", flag.ContinueOnError)
	fs.SetOutput(out)
	c := &o.cfg
	fs.StringVar(&c.Solver, "conf", "", "solver `prototxt` (Caffe's format, unchanged); its net and data sources are found\nfrom the working directory, then next to the solver file")
	fs.BoolVar(&o.train, "train", false, "train the net (validating every test_interval when the solver sets it)")
	fs.BoolVar(&o.test, "test", false, "test -model over the whole TEST source; prints and writes the mean of each output blob")
	fs.StringVar(&o.features, "features", "", "comma-separated `blobs` to write per TEST sample as rows of -output part files")
	fs.StringVar(&c.Label, "label", "", "`blob` added to each feature row (e.g. label)")
	fs.StringVar(&c.OutputFormat, "outputFormat", "json", "feature rows as `json` lines or parquet")
	fs.StringVar(&c.Model, "model", "", "`file.caffemodel`: written by -train, read by -test and -features")
	fs.StringVar(&c.Output, "output", "", "`folder` for feature part files (part-00000 …, _SUCCESS) and the -test result")
	fs.IntVar(&c.ClusterSize, "clusterSize", 1, "number of executors (`N` processes here, or the Slurm/MPI/Kubernetes world size)")
	fs.IntVar(&c.Devices, "devices", 0, "CPU threads per executor (`N`; default: the cores divided among local executors)")
	fs.StringVar(&c.Connection, "connection", "ethernet", "transport between executors: `ethernet` (gRPC over TCP); infiniband is not supported")
	fs.StringVar(&c.Snapshot, "snapshot", "", "resume training from this `file.solverstate` (it names its own .caffemodel)")
	fs.StringVar(&c.Weights, "weights", "", "initialise from this `file.caffemodel` by layer name before training (fine-tuning)")
	fs.BoolVar(&c.Persistent, "persistent", false, "keep each executor's data shard in memory after the first epoch")
	fs.IntVar(&c.LMDBPartitions, "lmdb_partitions", 0, "split each LMDB into `N` shards (default: one per executor)")
	fs.BoolVar(&o.resize, "resize", false, "resize records whose height/width differ from the data layer's to its size")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar, only Caffe's log lines")
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.PrintDefaults()
	}
	return fs
}

// parse turns arguments into options, refusing unknown flags, stray
// arguments and contradictory combinations.
func parse(args []string, out io.Writer) (*options, cos.Mode, error) {
	o := &options{}
	fs := newFlagSet(o, out)
	if err := fs.Parse(args); err != nil {
		return nil, cos.Mode{}, err
	}
	if fs.NArg() > 0 {
		return nil, cos.Mode{}, fmt.Errorf("%w: unexpected argument %q (flags start with -)", cos.ErrUsage, fs.Arg(0))
	}
	if o.features != "" {
		o.cfg.Features = strings.Split(o.features, ",")
	}
	o.cfg.Resize = o.resize
	if o.cfg.ClusterSize < 1 {
		return nil, cos.Mode{}, fmt.Errorf("%w: -clusterSize must be at least 1, got %d", cos.ErrUsage, o.cfg.ClusterSize)
	}
	m := cos.Mode{Train: o.train, Test: o.test, Features: o.features != ""}
	if err := o.cfg.Check(m); err != nil {
		return nil, m, err
	}
	return o, m, nil
}

func main() {
	cos.RunExecutorIfChild()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, m, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cos-train: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		fmt.Fprintln(stderr, "run cos-train -h for the flags")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ui := newConsole(stderr, o.quiet)
	defer ui.close()
	o.cfg.Log = ui
	o.cfg.Progress = ui.progress
	if err := runJobs(ctx, o, m, stdout); err != nil {
		ui.close()
		fmt.Fprintf(stderr, "cos-train: %v\n", err)
		return 1
	}
	return 0
}

func runJobs(ctx context.Context, o *options, m cos.Mode, stdout io.Writer) error {
	if m.Train {
		res, err := cos.Train(ctx, o.cfg)
		if err != nil {
			return err
		}
		if res.Model != "" {
			fmt.Fprintf(stdout, "model: %s\n", res.Model)
		}
	}
	if m.Test {
		res, err := cos.Test(ctx, o.cfg)
		if err != nil {
			return err
		}
		for i, n := range res.Names {
			fmt.Fprintf(stdout, "%s: %s\n", n, formatFloats(res.Values[i]))
		}
	}
	if m.Features {
		res, err := cos.Features(ctx, o.cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "features: %d rows in %s\n", res.Rows, o.cfg.Output)
	}
	return nil
}

func formatFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

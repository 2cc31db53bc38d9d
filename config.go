package cos

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cos-project/cos/prototxt"
)

// Config holds the settings of a job. Field names follow CaffeOnSpark's
// command-line flags (-conf, -model, -features, …).
type Config struct {
	// Solver is the solver prototxt (-conf). Its net: and the data layers'
	// sources are found as Caffe finds them: from the working directory,
	// then next to the solver file.
	Solver string
	// Model is where Train writes the final weights, and what Test and
	// Features read (-model).
	Model string
	// Weights initialises the net from a .caffemodel by layer name before
	// training (-weights; fine-tuning).
	Weights string
	// Snapshot resumes training from a .solverstate (-snapshot). The state
	// names its own .caffemodel.
	Snapshot string
	// Output is the folder for feature part files and the test result (-output).
	Output string
	// Features names the blobs written per sample by Features (-features).
	Features []string
	// Label names a blob appended to each feature row (-label).
	Label string
	// OutputFormat is "json" (default) or "parquet" (-outputFormat).
	OutputFormat string
	// ClusterSize is the number of executors (-clusterSize). Under Slurm,
	// MPI or a Kubernetes indexed Job the engine's world size must agree.
	ClusterSize int
	// Devices is the number of CPU threads each executor computes with
	// (-devices); 0 means all cores divided among local executors.
	Devices int
	// LMDBPartitions splits each LMDB into this many shards (-lmdb_partitions);
	// 0 means one per executor. Executor r reads every shard i with
	// i % ClusterSize == r.
	LMDBPartitions int
	// Persistent keeps each executor's shard in memory after the first
	// epoch (-persistent).
	Persistent bool
	// Resize makes data layers resize records whose height/width differ
	// from the layer's declared size instead of failing (-resize).
	Resize bool
	// Connection is "ethernet" (default). CaffeOnSpark's "infiniband" RDMA
	// transport is not supported.
	Connection string
	// Log receives Caffe's log lines; nil discards them.
	Log io.Writer `json:"-"`
	// Progress, if set, is called once per training iteration and after
	// each test pass.
	Progress func(Progress) `json:"-"`
	// Curves names the base path (without extension) of the training
	// curves; empty means next to Model: <model without .caffemodel>_curves.
	Curves string
}

// Progress is one report of a running job.
type Progress struct {
	Iter, MaxIter int
	// Loss is the smoothed training loss (Caffe's average_loss).
	Loss float64
	LR   float64
	// ItersPerSec is the training speed over the last display interval.
	ItersPerSec float64
	// Test holds the test outputs when this report follows a test pass.
	Test map[string]float64
}

// ErrUsage marks an error in the settings themselves (as opposed to a
// failure while running); the CLI prints usage hints for it.
var ErrUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Mode is what a Config asks for, decided by Check.
type Mode struct {
	Train, Test, Features bool
}

// Check validates a configuration for the given jobs and fills defaults.
// Contradictory combinations are refused with a message saying why.
func (c *Config) Check(m Mode) error {
	if c.Solver == "" {
		return usageErr("-conf <solver.prototxt> is required")
	}
	// Plain paths and file: URLs everywhere (CaffeOnSpark's files use
	// file:/…); hdfs:// and other remote schemes get a clear error.
	for _, f := range []struct {
		flag string
		p    *string
	}{{"-conf", &c.Solver}, {"-model", &c.Model}, {"-weights", &c.Weights}, {"-snapshot", &c.Snapshot}, {"-output", &c.Output}, {"curves", &c.Curves}} {
		if *f.p == "" {
			continue
		}
		lp, err := prototxt.LocalPath(*f.p)
		if err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
		*f.p = lp
	}
	if !m.Train && !m.Test && !m.Features {
		return usageErr("nothing to do: give -train, -test or -features")
	}
	if m.Test && m.Train {
		return usageErr("-train and -test are separate jobs: train first (writing -model), then run -test on that model")
	}
	if m.Test && m.Features {
		return usageErr("-test and -features are separate jobs: -test writes test_result.txt, -features writes part files, both into -output")
	}
	if m.Test && c.Model == "" {
		return usageErr("-test needs -model <file.caffemodel> (the weights to evaluate)")
	}
	if m.Features && c.Model == "" {
		if m.Train {
			return usageErr("-train with -features needs -model <file.caffemodel>: where training writes the weights the features are then computed with")
		}
		return usageErr("-features needs -model <file.caffemodel> (the weights to evaluate)")
	}
	if m.Features && c.Output == "" {
		return usageErr("-features needs -output <folder> for the part files")
	}
	if m.Features && len(c.Features) == 0 {
		return usageErr("-features needs at least one blob name, e.g. -features accuracy,loss")
	}
	if !m.Features && c.Label != "" {
		return usageErr("-label only applies with -features")
	}
	if !m.Train && (c.Snapshot != "" || c.Weights != "") {
		return usageErr("-snapshot and -weights only apply with -train")
	}
	if c.ClusterSize < 0 {
		return usageErr("-clusterSize must be at least 1, got %d", c.ClusterSize)
	}
	if c.ClusterSize == 0 {
		c.ClusterSize = 1
	}
	if c.Devices < 0 {
		return usageErr("-devices must be at least 1, got %d", c.Devices)
	}
	if c.LMDBPartitions < 0 {
		return usageErr("-lmdb_partitions must be at least 1, got %d", c.LMDBPartitions)
	}
	if c.LMDBPartitions != 0 && c.LMDBPartitions < c.ClusterSize {
		return usageErr("-lmdb_partitions %d is smaller than -clusterSize %d: some executors would get no data", c.LMDBPartitions, c.ClusterSize)
	}
	switch strings.ToLower(c.Connection) {
	case "", "ethernet":
		c.Connection = "ethernet"
	case "infiniband":
		return usageErr("-connection infiniband (RDMA) is not supported: cos all-reduces over gRPC on ethernet/TCP; drop the flag or pass -connection ethernet")
	default:
		return usageErr("-connection %q unknown: want ethernet", c.Connection)
	}
	switch strings.ToLower(c.OutputFormat) {
	case "", "json":
		c.OutputFormat = "json"
	case "parquet":
		c.OutputFormat = "parquet"
	default:
		return usageErr("-outputFormat %q unknown: want json or parquet", c.OutputFormat)
	}
	for _, f := range c.Features {
		if f == "" {
			return usageErr("-features has an empty blob name (%q)", strings.Join(c.Features, ","))
		}
		if f == "SampleID" {
			return usageErr("-features cannot name a blob SampleID: that column holds the record key")
		}
	}
	return nil
}

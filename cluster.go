package cos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/distri"
	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

// Environment of executor processes started by a local launch.
const (
	envJob        = "COS_JOB"         // train, test or features
	envJobConfig  = "COS_JOB_CONFIG"  // the Config as JSON
	envResultFile = "COS_RESULT_FILE" // where rank 0 writes the job's result as JSON
)

// RunExecutorIfChild turns this process into an executor when a local
// cluster launch started it (see the package doc), and exits when the job
// ends. Otherwise it returns at once.
func RunExecutorIfChild() {
	kind := os.Getenv(envJob)
	if kind == "" {
		return
	}
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(envJobConfig)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "cos executor: bad %s: %v\n", envJobConfig, err)
		os.Exit(1)
	}
	cfg.Log = os.Stdout
	var res any
	switch jobKind(kind) {
	case jobTrain:
		res = &TrainResult{}
	case jobTest:
		res = &TestResult{}
	case jobFeatures:
		res = &FeaturesResult{}
	default:
		fmt.Fprintf(os.Stderr, "cos executor: unknown job %q\n", kind)
		os.Exit(1)
	}
	ctx := context.Background()
	err := func() (err error) {
		defer recoverJob(&err)
		return runJob(ctx, &cfg, jobKind(kind), res)
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	if path := os.Getenv(envResultFile); path != "" && os.Getenv(distri.EnvRank) == "0" {
		b, _ := json.Marshal(res)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "cos executor: result: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// runJob decides where this process stands: a lone executor, one executor
// of a cluster an engine (Slurm, MPI, Kubernetes, a local launch) started,
// or the launcher of a local cluster.
func runJob(ctx context.Context, cfg *Config, kind jobKind, res any) error {
	dc, err := distri.Detect(os.Getenv)
	if err != nil {
		return err
	}
	if dc.Engine == "" || dc.Engine == "none" {
		if cfg.ClusterSize > 1 {
			return launchLocal(ctx, cfg, kind, res)
		}
		dc.WorldSize = 1
	} else if cfg.ClusterSize > 1 && cfg.ClusterSize != dc.WorldSize {
		return fmt.Errorf("-clusterSize %d disagrees with the %s engine's world size %d (leave -clusterSize out under an engine, or make them equal)", cfg.ClusterSize, dc.Engine, dc.WorldSize)
	}
	sp, np, err := loadDefinition(cfg)
	if err != nil {
		return err
	}
	e := &executor{rank: dc.Rank, world: dc.WorldSize}
	e.logf = newLogf(cfg.Log, e.rank)
	threads := cfg.Devices
	if threads <= 0 {
		threads = runtime.NumCPU()
		if dc.Engine == "local" {
			threads = max(1, runtime.NumCPU()/dc.WorldSize)
		}
	}
	blas.SetThreads(threads)
	cfg.Devices = threads
	if dc.Logf == nil {
		rank := dc.Rank
		dc.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "executor %d: %s\n", rank, fmt.Sprintf(format, args...))
		}
	}
	if kind == jobTrain {
		// RunTrain joins the cluster itself.
		r, err := e.train(ctx, cfg, dc, sp, np)
		if r != nil {
			*res.(*TrainResult) = *r
		}
		return err
	}
	if dc.WorldSize > 1 {
		if dc.DefHash, err = distri.DefinitionHash(sp, np); err != nil {
			return err
		}
		cl, err := distri.Join(ctx, dc)
		if err != nil {
			return err
		}
		defer cl.Close()
		e.coll = cl
		// A lost executor cancels this one's work promptly.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-cl.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	var jobErr error
	switch kind {
	case jobTest:
		var r *TestResult
		if r, jobErr = e.test(ctx, cfg, sp, np); r != nil {
			*res.(*TestResult) = *r
		}
	case jobFeatures:
		var r *FeaturesResult
		if r, jobErr = e.features(ctx, cfg, sp, np); r != nil {
			*res.(*FeaturesResult) = *r
		}
	}
	if jobErr != nil && e.coll != nil {
		if cerr := e.coll.(*distri.Cluster).Err(); cerr != nil {
			return cerr
		}
	}
	return jobErr
}

func cloneNetWithState(np *caffepb.NetParameter, st *caffepb.NetState) *caffepb.NetParameter {
	c := proto.Clone(np).(*caffepb.NetParameter)
	c.State = proto.Clone(st).(*caffepb.NetState)
	return c
}

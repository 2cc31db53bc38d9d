// Command cos-allreduce-bench measures the ring all-reduce of package distri
// between executor processes, and reports bus bandwidth as NCCL defines it:
// busbw = 2(n-1)/n × bytes / time, the rate each link must carry, so it is
// directly comparable to the link rate.
//
// Start one process per executor, under any engine distri.Detect knows
// (COS_RANK / COS_WORLD_SIZE / COS_MASTER / COS_JOB_TOKEN, srun, mpirun), or
// with -clusterSize N to launch N local processes. scripts/netns/allreduce_bench.sh
// runs it across network namespaces joined by rate-limited links.
//
//	cos-allreduce-bench -sizes 67108864,1724320 -iters 5 -link 1e9
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cos-project/cos/distri"
)

func main() {
	sizes := flag.String("sizes", "67108864,1724320", "buffer sizes in bytes, comma separated (default: 64 MiB and LeNet's gradient, 431080 floats)")
	iters := flag.Int("iters", 5, "timed all-reduces per size (after one warm-up)")
	link := flag.Float64("link", 0, "link rate in bit/s, to report bus bandwidth as a fraction of it (0: do not)")
	chunk := flag.Int("chunk", 0, "ring message size in bytes (0: distri's default)")
	listen := flag.String("listen", "", "address to bind (overrides COS_LISTEN)")
	advertise := flag.String("advertise", "", "address peers dial (overrides COS_ADVERTISE)")
	cluster := flag.Int("clusterSize", 0, "launch this many local executor processes")
	cpuprofile := flag.String("cpuprofile", "", "write rank 0's CPU profile to this `file`")
	flag.Parse()
	if *cpuprofile != "" && os.Getenv("OMPI_COMM_WORLD_RANK")+os.Getenv("COS_RANK")+os.Getenv("SLURM_PROCID") == "0" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	if *cluster > 0 && os.Getenv(distri.EnvRank) == "" {
		err := distri.LaunchLocal(context.Background(), distri.LocalOptions{N: *cluster, Args: os.Args[1:]})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*sizes, *iters, *link, *chunk, *listen, *advertise); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "cos-allreduce-bench:", err)
		os.Exit(1)
	}
}

func run(sizes string, iters int, link float64, chunk int, listen, advertise string) error {
	cfg, err := distri.Detect(os.Getenv)
	if err != nil {
		return err
	}
	if listen != "" {
		cfg.Listen = listen
	}
	if advertise != "" {
		cfg.Advertise = advertise
	}
	cfg.ChunkBytes = chunk
	t0 := time.Now()
	c, err := distri.Join(context.Background(), cfg)
	if err != nil {
		return err
	}
	n := c.WorldSize()
	if c.Rank() == 0 {
		fmt.Printf("%d executors joined in %v (engine %s, data plane %s)\n", n, time.Since(t0).Round(time.Millisecond), cfg.Engine, c.DataPlane())
		for _, p := range c.Peers() {
			fmt.Printf("  rank %d: %s on %s\n", p.Rank, p.Addr, p.Host)
		}
	}
	for _, f := range strings.Split(sizes, ",") {
		bytes, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || bytes < 4 {
			return fmt.Errorf("bad size %q", f)
		}
		buf := make([]float32, bytes/4)
		for i := range buf {
			buf[i] = float32(c.Rank()+1) * float32(i%97)
		}
		if err := c.AllReduceMean(buf); err != nil { // warm-up
			return err
		}
		// Every executor must end with the same, correct values.
		want := float32(n+1) / 2 * float32(5%97)
		if len(buf) > 5 && buf[5] != want {
			return fmt.Errorf("rank %d: wrong all-reduce result %v, want %v", c.Rank(), buf[5], want)
		}
		if err := c.Barrier(); err != nil {
			return err
		}
		start := time.Now()
		for i := 0; i < iters; i++ {
			if err := c.AllReduceMean(buf); err != nil {
				return err
			}
		}
		el := time.Since(start).Seconds() / float64(iters)
		if c.Rank() == 0 {
			algbw := float64(len(buf)*4) / el
			busbw := algbw * 2 * float64(n-1) / float64(n)
			line := fmt.Sprintf("size %10d B  time %9.3f ms  algbw %8.2f MB/s  busbw %8.2f MB/s (%.3f Gbit/s)",
				len(buf)*4, el*1e3, algbw/1e6, busbw/1e6, busbw*8/1e9)
			if link > 0 {
				line += fmt.Sprintf("  = %.1f%% of the %.3g Gbit/s link", 100*busbw*8/link, link/1e9)
			}
			fmt.Println(line)
		}
	}
	return c.Close()
}

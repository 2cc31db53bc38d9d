package distri

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

const testToken = "test-token-0123456789"

// startLocal starts n executors in this process, talking gRPC over real
// loopback sockets. mod adjusts each executor's config.
func startLocal(t *testing.T, n int, mod func(*Config)) []*Cluster {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	master := lis.Addr().String()
	cs := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		cfg := Config{Rank: r, WorldSize: n, Master: master, Token: testToken, DefHash: []byte("same"),
			Host: fmt.Sprintf("host%d", r), Logf: t.Logf, ChunkBytes: 4 << 10, RendezvousTimeout: 20 * time.Second}
		if r == 0 {
			cfg.Listener = lis
		}
		if mod != nil {
			mod(&cfg)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[r], errs[r] = Join(context.Background(), cfg)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: Join: %v", r, err)
		}
	}
	t.Cleanup(func() { closeAll(cs) })
	return cs
}

// runAll runs f on every executor concurrently and fails on any error.
func runAll(t *testing.T, cs []*Cluster, f func(r int, c *Cluster) error) {
	t.Helper()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for r, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(r, c)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

func TestRingAllReduce(t *testing.T) {
	for _, via := range []string{"unix", "tcp"} {
		for n := 1; n <= 5; n++ {
			t.Run(fmt.Sprintf("%s/world%d", via, n), func(t *testing.T) { testRing(t, n, via) })
		}
	}
}

func testRing(t *testing.T, n int, via string) {
	cs := startLocal(t, n, func(c *Config) { c.TCPOnly = via == "tcp" })
	for _, c := range cs {
		if n > 1 && c.ringVia != via && !(via == "unix" && runtime.GOOS != "linux") {
			t.Fatalf("rank %d: ring goes over %s, want %s", c.Rank(), c.ringVia, via)
		}
	}
	// 4 KiB chunks = 1024 floats: sizes below, at and across the
	// world size and chunk size, none of them divisible by both.
	sizes := []int{0, 1, 3, n + 1, 1023, 1025, 5*1024 + 7, 40_001}
	for _, size := range sizes {
		bufs := make([][]float32, n)
		want := make([]float64, size)
		for r := range bufs {
			rng := rand.New(rand.NewPCG(uint64(r), uint64(size)))
			bufs[r] = make([]float32, size)
			for i := range bufs[r] {
				bufs[r][i] = float32(rng.NormFloat64())
				want[i] += float64(bufs[r][i])
			}
		}
		runAll(t, cs, func(r int, c *Cluster) error { return c.AllReduceMean(bufs[r]) })
		for i := range want {
			w := want[i] / float64(n)
			if math.Abs(float64(bufs[0][i])-w) > 1e-5*(1+math.Abs(w)) {
				t.Fatalf("size %d: element %d = %v, want %v", size, i, bufs[0][i], w)
			}
			for r := 1; r < n; r++ {
				if math.Float32bits(bufs[r][i]) != math.Float32bits(bufs[0][i]) {
					t.Fatalf("size %d: element %d differs: rank %d has %v, rank 0 has %v", size, i, r, bufs[r][i], bufs[0][i])
				}
			}
		}
	}
	// SumFloat64: exact small sums.
	vals := make([][]float64, n)
	for r := range vals {
		vals[r] = []float64{float64(r), 1, 0.5 * float64(r*r)}
	}
	runAll(t, cs, func(r int, c *Cluster) error { return c.SumFloat64(vals[r]) })
	for r := range vals {
		s0, s2 := 0.0, 0.0
		for k := 0; k < n; k++ {
			s0 += float64(k)
			s2 += 0.5 * float64(k*k)
		}
		if vals[r][0] != s0 || vals[r][1] != float64(n) || vals[r][2] != s2 {
			t.Fatalf("rank %d: SumFloat64 = %v, want [%v %v %v]", r, vals[r], s0, n, s2)
		}
	}
	runAll(t, cs, func(r int, c *Cluster) error { return c.Close() })
}

// closeAll closes executors concurrently, as separate processes would.
func closeAll(cs []*Cluster) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
}

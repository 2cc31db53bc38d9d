package distri

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestShmMatchesRing: the shared-memory plane gives bit for bit what the
// gRPC ring gives (mean, sum and float64 sums), for world sizes 2–4 and
// sizes that do not divide evenly, including buffers larger than one slot
// (several pieces).
func TestShmMatchesRing(t *testing.T) {
	if !shmSupported {
		t.Skip("shared memory is Linux only")
	}
	for n := 2; n <= 4; n++ {
		t.Run(fmt.Sprintf("world%d", n), func(t *testing.T) {
			ring := startLocal(t, n, func(c *Config) { c.NoShm = true })
			shm := startLocal(t, n, nil)
			for r := 0; r < n; r++ {
				if got := shm[r].DataPlane(); got != "shm" {
					t.Fatalf("rank %d: data plane %q, want shm", r, got)
				}
				if got := ring[r].DataPlane(); got == "shm" {
					t.Fatalf("rank %d: NoShm executor uses shm", r)
				}
			}
			sizes := []int{0, 1, 3, n + 1, 1025, 40_001, shmSlot/4 + 3*n + 1}
			for _, size := range sizes {
				for _, mean := range []bool{true, false} {
					a := make([][]float32, n)
					b := make([][]float32, n)
					for r := range a {
						rng := rand.New(rand.NewPCG(uint64(r+7), uint64(size)))
						a[r] = make([]float32, size)
						for i := range a[r] {
							// Mixed magnitudes, so summation order changes the rounding.
							a[r][i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
						}
						b[r] = append([]float32(nil), a[r]...)
					}
					op := func(bufs [][]float32) func(r int, c *Cluster) error {
						return func(r int, c *Cluster) error {
							if mean {
								return c.AllReduceMean(bufs[r])
							}
							return c.AllReduceSum(bufs[r])
						}
					}
					runAll(t, ring, op(a))
					runAll(t, shm, op(b))
					for r := 0; r < n; r++ {
						for i := range a[r] {
							if math.Float32bits(a[r][i]) != math.Float32bits(b[r][i]) {
								t.Fatalf("size %d mean %v: rank %d element %d: shm %v, ring %v", size, mean, r, i, b[r][i], a[r][i])
							}
						}
					}
				}
			}
			const m = 1001
			fa, fb := make([][]float64, n), make([][]float64, n)
			for r := range fa {
				rng := rand.New(rand.NewPCG(uint64(r), 99))
				for i := 0; i < m; i++ {
					v := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4))
					fa[r] = append(fa[r], v)
					fb[r] = append(fb[r], v)
				}
			}
			runAll(t, ring, func(r int, c *Cluster) error { return c.SumFloat64(fa[r]) })
			runAll(t, shm, func(r int, c *Cluster) error { return c.SumFloat64(fb[r]) })
			for r := 0; r < n; r++ {
				for i := range fa[r] {
					if math.Float64bits(fa[r][i]) != math.Float64bits(fb[r][i]) {
						t.Fatalf("SumFloat64 rank %d element %d: shm %v, ring %v", r, i, fb[r][i], fa[r][i])
					}
				}
			}
			runAll(t, shm, func(r int, c *Cluster) error { return c.Barrier() })
			runAll(t, shm, func(r int, c *Cluster) error { return c.Close() })
			runAll(t, ring, func(r int, c *Cluster) error { return c.Close() })
		})
	}
}

// TestShmFileRemoved: the /dev/shm file's name is gone once the job runs,
// so a job that dies leaves nothing behind.
func TestShmFileRemoved(t *testing.T) {
	if !shmSupported {
		t.Skip("shared memory is Linux only")
	}
	cs := startLocal(t, 2, nil)
	if cs[0].DataPlane() != "shm" {
		t.Fatalf("data plane %q, want shm", cs[0].DataPlane())
	}
	path := shmPath(testToken, cs[0].Peers()[0].Addr)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after the rendezvous (stat: %v)", path, err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		t.Fatalf("no %s: %v", filepath.Dir(path), err)
	}
}

// TestShmVoteFallsBack: one executor that refuses shared memory keeps the
// whole job on the ring, which still works.
func TestShmVoteFallsBack(t *testing.T) {
	cs := startLocal(t, 3, func(c *Config) { c.NoShm = c.Rank == 2 })
	for r, c := range cs {
		if c.DataPlane() == "shm" {
			t.Fatalf("rank %d uses shm although rank 2 refused it", r)
		}
	}
	bufs := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	runAll(t, cs, func(r int, c *Cluster) error { return c.AllReduceSum(bufs[r]) })
	if bufs[1][0] != 9 || bufs[1][1] != 12 {
		t.Fatalf("sum = %v, want [9 12]", bufs[1])
	}
	_ = runtime.GOOS
}

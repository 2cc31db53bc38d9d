package distri

import (
	"runtime"
	"sync"
	"testing"

	"github.com/cos-project/cos/layers"
	cnet "github.com/cos-project/cos/net"
)

// TestReducerSteadyStateAllocs bounds what one training step's gradient
// reduction allocates once the bucket layout exists: gRPC allocates per
// message (receive buffers), distri itself should add next to nothing. The
// bound is per ring message, so it fails if buffers are re-made per step.
func TestReducerSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, plane := range []string{"shm", "ring"} {
		if plane == "shm" && !shmSupported {
			continue
		}
		t.Run(plane, func(t *testing.T) { testReducerAllocs(t, plane) })
	}
}

func testReducerAllocs(t *testing.T, plane string) {
	cs := startLocal(t, 2, func(c *Config) { c.ChunkBytes = 256 << 10; c.NoShm = plane != "shm" })
	if got := cs[0].DataPlane(); (got == "shm") != (plane == "shm") {
		t.Fatalf("data plane %q, want %s", got, plane)
	}
	mk := func() []*cnet.Param {
		var ps []*cnet.Param
		for _, n := range []int{500 * 800, 500, 10 * 500, 10} {
			ps = append(ps, &cnet.Param{Blob: layers.NewBlob(n)})
		}
		return ps
	}
	params := [][]*cnet.Param{mk(), mk()}
	reds := []*Reducer{cs[0].NewReducer(1 << 20), cs[1].NewReducer(1 << 20)}
	step := func() {
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reds[r].ParamsReady(params[r])
				if err := reds[r].Wait(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	for range 3 {
		step()
	}
	var before, after runtime.MemStats
	const steps = 20
	runtime.ReadMemStats(&before)
	for range steps {
		step()
	}
	runtime.ReadMemStats(&after)
	bytesPerStep := float64(after.TotalAlloc-before.TotalAlloc) / steps
	allocsPerStep := float64(after.Mallocs-before.Mallocs) / steps
	grad := 4 * (500*800 + 500 + 10*500 + 10)
	// Each rank receives 2(n-1)/n = 1 gradient's worth of chunks per step,
	// and gRPC's proto decoding allocates every chunk's bytes: that is the
	// floor. Allow half as much again for gRPC's small per-message objects.
	t.Logf("2 executors, %d-byte gradient: %.0f allocations, %.0f bytes per step (both ranks)", grad, allocsPerStep, bytesPerStep)
	if plane == "shm" {
		// Shared memory needs no per-step buffers at all.
		if bytesPerStep > 4096 {
			t.Errorf("a step allocates %.0f bytes over shared memory", bytesPerStep)
		}
		return
	}
	if bytesPerStep > float64(2*3*grad/2) {
		t.Errorf("a step allocates %.0f bytes, more than 1.5× the gradient per rank", bytesPerStep)
	}
}

package layers

import (
	"math/rand"
	"runtime"
	"syscall"
	"testing"

	"github.com/cos-project/cos/blas"
)

func threadCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cpuLoop runs f b.N times on a locked thread and reports thread CPU ns/op.
func cpuLoop(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := blas.Threads()
	blas.SetThreads(1)
	defer blas.SetThreads(prev)
	f()
	b.ResetTimer()
	t0 := threadCPU()
	for i := 0; i < b.N; i++ {
		f()
	}
	b.ReportMetric(float64(threadCPU()-t0)/float64(b.N)/1e6, "cpu-ms/op")
}

// Temporary (speed work): single-threaded layer timings.
func BenchmarkTmpLayers(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	cases := []struct {
		name, text string
		shape      []int
		tops       int
	}{
		{"lenet_pool1", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`, []int{64, 20, 24, 24}, 1},
		{"cifar_pool1", `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }`, []int{100, 32, 32, 32}, 1},
		{"cifar_pool2", `name: "p" type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 }`, []int{100, 32, 16, 16}, 1},
		{"cifar_relu2", `name: "r" type: "ReLU"`, []int{100, 32, 16, 16}, 1},
		{"lenet_conv2", `name: "c" type: "Convolution" convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 20, 12, 12}, 1},
		{"cifar_conv2", `name: "c" type: "Convolution" convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 16, 16}, 1},
	}
	for _, c := range cases {
		l := buildThreaded(b, c.text, 1)
		x := randBlob(rng, "x", c.shape...)
		top := []*Blob{{}}
		if err := l.Setup([]*Blob{x}, top); err != nil {
			b.Fatal(err)
		}
		FillGaussian(rng, 1, top[0].Diff)
		b.Run(c.name+"/fwd", func(b *testing.B) {
			cpuLoop(b, func() { l.Forward([]*Blob{x}, top) })
		})
		b.Run(c.name+"/bwd", func(b *testing.B) {
			cpuLoop(b, func() { l.Backward(top, []bool{true}, []*Blob{x}) })
		})
	}
}

func BenchmarkTmpConvModes(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	cases := []struct {
		name, text string
		shape      []int
	}{
		{"lenet_conv1", `name: "c" type: "Convolution" convolution_param { num_output: 20 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 1, 28, 28}},
		{"lenet_conv2", `name: "c" type: "Convolution" convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 20, 12, 12}},
		{"cifar_conv1", `name: "c" type: "Convolution" convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 3, 32, 32}},
		{"cifar_conv2", `name: "c" type: "Convolution" convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 16, 16}},
		{"cifar_conv3", `name: "c" type: "Convolution" convolution_param { num_output: 64 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 8, 8}},
	}
	defer func() { convUseDWT, convUseDirect = true, true }()
	for _, c := range cases {
		for _, mode := range []struct {
			name     string
			dwt, dir bool
		}{{"plain", false, false}, {"dwt", true, false}, {"direct", false, true}, {"both", true, true}} {
			convUseDWT, convUseDirect = mode.dwt, mode.dir
			l := buildThreaded(b, c.text, 1)
			x := randBlob(rng, "x", c.shape...)
			top := []*Blob{{}}
			if err := l.Setup([]*Blob{x}, top); err != nil {
				b.Fatal(err)
			}
			FillGaussian(rng, 1, top[0].Diff)
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				cpuLoop(b, func() { l.Backward(top, []bool{true}, []*Blob{x}) })
			})
		}
	}
}

func BenchmarkTmpPoolAB(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	l := buildThreaded(b, `name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }`, 1)
	x := randBlob(rng, "x", 100, 32, 32, 32)
	top := []*Blob{{}}
	if err := l.Setup([]*Blob{x}, top); err != nil {
		b.Fatal(err)
	}
	for _, sc := range []bool{true, false, true, false} {
		poolScalarOnly = sc
		b.Run(map[bool]string{true: "scalar", false: "vec"}[sc], func(b *testing.B) {
			cpuLoop(b, func() { l.Forward([]*Blob{x}, top) })
		})
	}
	poolScalarOnly = false
}

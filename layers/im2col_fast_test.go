package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/blas"
)

// The assembly im2col/col2im plane kernels against the scalar unit-stride
// loops, to the bit (same copies, same adds in the same order), on output
// widths that are multiples of 8 (the kernels' condition) and others.
func TestIm2colS1AsmMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	defer func() { im2colScalarOnly = false }()
	tested := 0
	for _, c := range []struct{ ch, h, w, k, pad int }{
		{20, 12, 12, 5, 0}, {1, 28, 28, 5, 0}, {3, 32, 32, 5, 2}, {32, 16, 16, 5, 2}, {32, 8, 8, 5, 2},
		{2, 10, 19, 4, 1}, {2, 9, 9, 3, 1},
	} {
		g := blas.ConvGeom{Channels: c.ch, Height: c.h, Width: c.w, KernelH: c.k, KernelW: c.k,
			PadH: c.pad, PadW: c.pad, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1}
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			if g.OutW()%8 == 0 {
				tested++
			}
			img := make([]float32, c.ch*c.h*c.w)
			FillGaussian(rng, 1, img)
			cols := make([]float32, g.ColSize())
			FillGaussian(rng, 1, cols)
			var col [2][]float32
			var back [2][]float32
			for i, scalar := range []bool{true, false} {
				im2colScalarOnly = scalar
				pad := make([]float32, paddedSize(&g))
				col[i] = make([]float32, g.ColSize())
				im2colS1(&g, img, col[i], pad, g.OutH()*g.OutW())
				back[i] = make([]float32, len(img))
				col2imS1(&g, cols, back[i], pad)
			}
			if i, j, ok := sameBits(col[:1], col[1:]); !ok {
				t.Fatalf("im2col differs at %d,%d", i, j)
			}
			if i, j, ok := sameBits(back[:1], back[1:]); !ok {
				t.Fatalf("col2im differs at %d,%d", i, j)
			}
		})
	}
	if tested < 5 {
		t.Fatalf("only %d geometries took the assembly kernels", tested)
	}
}

// The bias-add kernel against the scalar loop, to the bit.
func TestAddBiasRowsAsmMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	defer func() { im2colScalarOnly = false }()
	for _, c := range [][2]int{{20, 576}, {50, 64}, {3, 8}, {4, 12}, {1, 1}} {
		out := make([]float32, c[0]*c[1])
		bias := make([]float32, c[0])
		FillGaussian(rng, 1, out)
		FillGaussian(rng, 1, bias)
		var got [2][]float32
		for i, scalar := range []bool{true, false} {
			im2colScalarOnly = scalar
			got[i] = append([]float32(nil), out...)
			addBiasRows(got[i], bias, c[1])
		}
		if i, j, ok := sameBits(got[:1], got[1:]); !ok {
			t.Fatalf("%v: differs at %d,%d", c, i, j)
		}
		if got[1][0] == out[0] {
			t.Fatalf("%v: nothing added", c)
		}
	}
}

// The vector sum against sum32's scalar form, to the bit.
func TestSum32AsmMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	defer func() { im2colScalarOnly = false }()
	for _, n := range []int{8, 64, 576, 1024, 256, 13, 1} {
		v := make([]float32, n)
		FillGaussian(rng, 1, v)
		im2colScalarOnly = true
		want := sum32(v)
		im2colScalarOnly = false
		if got := sum32(v); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("n=%d: %v, scalar %v", n, got, want)
		}
	}
}

// The vector addTo against the scalar loop, to the bit, on lengths with
// and without a tail.
func TestAddToAsmMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	defer func() { im2colScalarOnly = false }()
	for _, n := range []int{500, 25000, 8, 7, 1, 0, 13} {
		dst := make([]float32, n)
		src := make([]float32, n)
		FillGaussian(rng, 1, dst)
		FillGaussian(rng, 1, src)
		var got [2][]float32
		for i, scalar := range []bool{true, false} {
			im2colScalarOnly = scalar
			got[i] = append([]float32(nil), dst...)
			addTo(got[i], src)
		}
		if i, j, ok := sameBits(got[:1], got[1:]); !ok {
			t.Fatalf("n=%d: differs at %d,%d", n, i, j)
		}
		for i := range dst {
			if got[1][i] != dst[i]+src[i] {
				t.Fatalf("n=%d: element %d = %v, want %v", n, i, got[1][i], dst[i]+src[i])
			}
		}
	}
}

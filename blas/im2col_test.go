package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveIm2col is the definition: col[(c,ky,kx), (y,x)] = data[c, y*s-p+ky*d, x*s-p+kx*d] or 0.
func naiveIm2col(g ConvGeom, data []float32) []float32 {
	oh, ow := g.OutH(), g.OutW()
	col := make([]float32, g.ColSize())
	for c := 0; c < g.Channels; c++ {
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				r := (c*g.KernelH+ky)*g.KernelW + kx
				for y := 0; y < oh; y++ {
					for x := 0; x < ow; x++ {
						iy := y*g.StrideH - g.PadH + ky*g.DilationH
						ix := x*g.StrideW - g.PadW + kx*g.DilationW
						if iy >= 0 && iy < g.Height && ix >= 0 && ix < g.Width {
							col[r*oh*ow+y*ow+x] = data[(c*g.Height+iy)*g.Width+ix]
						}
					}
				}
			}
		}
	}
	return col
}

var convGeoms = []ConvGeom{
	{1, 28, 28, 5, 5, 0, 0, 1, 1, 1, 1},
	{20, 12, 12, 5, 5, 0, 0, 1, 1, 1, 1},
	{3, 32, 32, 5, 5, 2, 2, 1, 1, 1, 1},
	{2, 7, 9, 3, 2, 1, 2, 2, 3, 1, 1},
	{2, 8, 8, 3, 3, 2, 2, 1, 1, 2, 2},
	{1, 5, 5, 5, 5, 4, 4, 3, 3, 1, 1},
	{3, 6, 4, 1, 1, 0, 0, 2, 1, 1, 1},
	{1, 3, 3, 3, 3, 3, 3, 1, 2, 1, 1},
}

func TestIm2colMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range convGeoms {
		data := randSlice(r, g.Channels*g.Height*g.Width)
		want := naiveIm2col(g, data)
		col := randSlice(r, g.ColSize()) // garbage must be overwritten
		Im2col(g, data, col)
		for i := range want {
			if col[i] != want[i] {
				t.Fatalf("%+v: col[%d] = %v, want %v", g, i, col[i], want[i])
			}
		}
	}
}

// TestCol2imIsAdjoint: <im2col(x), y> == <x, col2im(y)> for random x, y.
func TestCol2imIsAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, g := range convGeoms {
		x := randSlice(r, g.Channels*g.Height*g.Width)
		y := randSlice(r, g.ColSize())
		col := make([]float32, g.ColSize())
		Im2col(g, x, col)
		img := randSlice(r, len(x)) // garbage must be overwritten
		Col2im(g, y, img)
		var lhs, rhs float64
		for i := range col {
			lhs += float64(col[i]) * float64(y[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(img[i])
		}
		if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
			t.Fatalf("%+v: <im2col(x),y> = %v, <x,col2im(y)> = %v", g, lhs, rhs)
		}
	}
}

// TestIm2colToBatch: the strided forms place each image in its own column
// block and are adjoint the same way.
func TestIm2colToBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	g := convGeoms[3]
	const batch = 3
	per := g.OutH() * g.OutW()
	rows := g.ColSize() / per
	chw := g.Channels * g.Height * g.Width
	data := randSlice(r, batch*chw)
	col := make([]float32, rows*batch*per)
	for n := 0; n < batch; n++ {
		Im2colTo(g, data[n*chw:(n+1)*chw], col[n*per:], batch*per)
	}
	for n := 0; n < batch; n++ {
		want := naiveIm2col(g, data[n*chw:(n+1)*chw])
		for rr := 0; rr < rows; rr++ {
			for i := 0; i < per; i++ {
				if got := col[rr*batch*per+n*per+i]; got != want[rr*per+i] {
					t.Fatalf("image %d row %d col %d: %v want %v", n, rr, i, got, want[rr*per+i])
				}
			}
		}
		img := make([]float32, chw)
		Col2imFrom(g, col[n*per:], batch*per, img)
		ref := make([]float32, chw)
		single := make([]float32, rows*per)
		for rr := 0; rr < rows; rr++ {
			copy(single[rr*per:(rr+1)*per], col[rr*batch*per+n*per:])
		}
		Col2im(g, single, ref)
		for i := range img {
			if img[i] != ref[i] {
				t.Fatalf("Col2imFrom image %d [%d]: %v want %v", n, i, img[i], ref[i])
			}
		}
	}
}

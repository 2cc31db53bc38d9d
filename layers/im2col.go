package layers

import "github.com/cos-project/cos/blas"

// im2col and col2im with blas.Im2col's layout ((C*kh*kw) rows of outH*outW),
// but working a row segment at a time: for each kernel offset the columns
// whose input pixel lies inside the image form one contiguous range, found
// once, so the inner loop is a plain copy (stride 1) or gather with no
// per-pixel bounds test. On LeNet's and CIFAR-10's layers this is several
// times faster than the per-pixel form, and matters because with so few
// output channels the im2col costs about as much as the gemm.

// colSpan returns the output columns [x0, x1) whose input column
// x*stride + off lies in [0, width).
func colSpan(outW, width, stride, off int) (x0, x1 int) {
	if off < 0 {
		x0 = (-off + stride - 1) / stride
	}
	if off >= width {
		return min(x0, outW), min(x0, outW)
	}
	x1 = min(outW, (width-off+stride-1)/stride)
	x0 = min(x0, outW)
	return x0, max(x0, x1)
}

// im2colFast writes the column matrix of one image.
func im2colFast(g *blas.ConvGeom, data, col []float32) {
	oh, ow := g.OutH(), g.OutW()
	h, w := g.Height, g.Width
	sh, sw := g.StrideH, g.StrideW
	i := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*h*w : (c+1)*h*w]
		for ky := 0; ky < g.KernelH; ky++ {
			offY := ky*g.DilationH - g.PadH
			for kx := 0; kx < g.KernelW; kx++ {
				off := kx*g.DilationW - g.PadW
				x0, x1 := colSpan(ow, w, sw, off)
				for y := 0; y < oh; y++ {
					row := col[i : i+ow]
					i += ow
					iy := y*sh + offY
					if iy < 0 || iy >= h || x0 == x1 {
						clear(row)
						continue
					}
					clear(row[:x0])
					clear(row[x1:])
					src := plane[iy*w : (iy+1)*w]
					if sw == 1 {
						copy(row[x0:x1], src[x0+off:x1+off])
						continue
					}
					dst := row[x0:x1]
					ix := x0*sw + off
					for x := range dst {
						dst[x] = src[ix]
						ix += sw
					}
				}
			}
		}
	}
}

// col2imFast overwrites one image's gradient with the sum of its column
// matrix entries (the adjoint of im2colFast).
func col2imFast(g *blas.ConvGeom, col, data []float32) {
	oh, ow := g.OutH(), g.OutW()
	h, w := g.Height, g.Width
	sh, sw := g.StrideH, g.StrideW
	clear(data[:g.Channels*h*w])
	i := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*h*w : (c+1)*h*w]
		for ky := 0; ky < g.KernelH; ky++ {
			offY := ky*g.DilationH - g.PadH
			for kx := 0; kx < g.KernelW; kx++ {
				off := kx*g.DilationW - g.PadW
				x0, x1 := colSpan(ow, w, sw, off)
				for y := 0; y < oh; y++ {
					row := col[i : i+ow]
					i += ow
					iy := y*sh + offY
					if iy < 0 || iy >= h || x0 == x1 {
						continue
					}
					dst := plane[iy*w : (iy+1)*w]
					src := row[x0:x1]
					if sw == 1 {
						d := dst[x0+off : x1+off]
						d = d[:len(src)]
						for x, v := range src {
							d[x] += v
						}
						continue
					}
					ix := x0*sw + off
					for _, v := range src {
						dst[ix] += v
						ix += sw
					}
				}
			}
		}
	}
}

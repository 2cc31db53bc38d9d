package blas

// ConvGeom describes one 2-D convolution window geometry, shared by Im2col
// and Col2im.
type ConvGeom struct {
	Channels, Height, Width int
	KernelH, KernelW        int
	PadH, PadW              int
	StrideH, StrideW        int
	DilationH, DilationW    int
}

// OutH is the output height: (H + 2pad - (dil*(k-1)+1)) / stride + 1.
func (g ConvGeom) OutH() int {
	return (g.Height+2*g.PadH-(g.DilationH*(g.KernelH-1)+1))/g.StrideH + 1
}

// OutW is the output width.
func (g ConvGeom) OutW() int {
	return (g.Width+2*g.PadW-(g.DilationW*(g.KernelW-1)+1))/g.StrideW + 1
}

// ColSize is the number of floats Im2col writes: C*kh*kw rows of outH*outW.
func (g ConvGeom) ColSize() int {
	return g.Channels * g.KernelH * g.KernelW * g.OutH() * g.OutW()
}

// Im2col lays one image (C×H×W) out as a (C*kh*kw)×(outH*outW) matrix, the
// layout Caffe uses, so convolution becomes one gemm.
func Im2col(g ConvGeom, data, col []float32) {
	oh, ow := g.OutH(), g.OutW()
	i := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*g.Height*g.Width : (c+1)*g.Height*g.Width]
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				for y := 0; y < oh; y++ {
					iy := y*g.StrideH - g.PadH + ky*g.DilationH
					row := col[i : i+ow]
					i += ow
					if iy < 0 || iy >= g.Height {
						clear(row)
						continue
					}
					src := plane[iy*g.Width : (iy+1)*g.Width]
					ix := kx*g.DilationW - g.PadW
					for x := range row {
						if ix >= 0 && ix < g.Width {
							row[x] = src[ix]
						} else {
							row[x] = 0
						}
						ix += g.StrideW
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it accumulates the column matrix back
// into an image. data is overwritten (zeroed first), as in Caffe.
func Col2im(g ConvGeom, col, data []float32) {
	clear(data[:g.Channels*g.Height*g.Width])
	oh, ow := g.OutH(), g.OutW()
	i := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*g.Height*g.Width : (c+1)*g.Height*g.Width]
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				for y := 0; y < oh; y++ {
					iy := y*g.StrideH - g.PadH + ky*g.DilationH
					row := col[i : i+ow]
					i += ow
					if iy < 0 || iy >= g.Height {
						continue
					}
					dst := plane[iy*g.Width : (iy+1)*g.Width]
					ix := kx*g.DilationW - g.PadW
					for _, v := range row {
						if ix >= 0 && ix < g.Width {
							dst[ix] += v
						}
						ix += g.StrideW
					}
				}
			}
		}
	}
}

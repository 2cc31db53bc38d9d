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
	Im2colTo(g, data, col, g.OutH()*g.OutW())
}

// Im2colTo is Im2col writing each of the C*kh*kw rows at stride ld floats,
// so several images can share one column matrix: image n of a batch goes to
// col[n*outH*outW:] with ld = batch*outH*outW, and the whole batch's
// convolution is then a single gemm.
func Im2colTo(g ConvGeom, data, col []float32, ld int) {
	oh, ow := g.OutH(), g.OutW()
	hw := g.Height * g.Width
	row := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*hw : (c+1)*hw]
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				dst := col[row*ld : row*ld+oh*ow]
				row++
				// The valid output columns [x0, x1) read inside the image;
				// the same range holds for every output row.
				x0, x1 := validRange(ow, kx*g.DilationW-g.PadW, g.StrideW, g.Width)
				for y := 0; y < oh; y++ {
					d := dst[y*ow : y*ow+ow]
					iy := y*g.StrideH - g.PadH + ky*g.DilationH
					if iy < 0 || iy >= g.Height || x0 >= x1 {
						clear(d)
						continue
					}
					src := plane[iy*g.Width : (iy+1)*g.Width]
					clear(d[:x0])
					ix := x0*g.StrideW + kx*g.DilationW - g.PadW
					if g.StrideW == 1 {
						copy(d[x0:x1], src[ix:ix+x1-x0])
					} else {
						for x := x0; x < x1; x++ {
							d[x] = src[ix]
							ix += g.StrideW
						}
					}
					clear(d[x1:])
				}
			}
		}
	}
}

// validRange returns the output columns x in [x0, x1) for which
// x*stride + off lies in [0, width).
func validRange(ow, off, stride, width int) (x0, x1 int) {
	// x*stride + off >= 0  <=>  x >= ceil(-off/stride)
	if off < 0 {
		x0 = (-off + stride - 1) / stride
	}
	// x*stride + off < width  <=>  x < ceil((width-off)/stride)
	if width-off <= 0 {
		return 0, 0
	}
	x1 = min(ow, (width-off+stride-1)/stride)
	if x0 > x1 {
		x0 = x1
	}
	return x0, x1
}

// Col2im is the adjoint of Im2col: it accumulates the column matrix back
// into an image. data is overwritten (zeroed first), as in Caffe.
func Col2im(g ConvGeom, col, data []float32) {
	Col2imFrom(g, col, g.OutH()*g.OutW(), data)
}

// Col2imFrom is Col2im reading the column rows at stride ld (the adjoint of
// Im2colTo).
func Col2imFrom(g ConvGeom, col []float32, ld int, data []float32) {
	clear(data[:g.Channels*g.Height*g.Width])
	oh, ow := g.OutH(), g.OutW()
	hw := g.Height * g.Width
	row := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*hw : (c+1)*hw]
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				srcRows := col[row*ld : row*ld+oh*ow]
				row++
				x0, x1 := validRange(ow, kx*g.DilationW-g.PadW, g.StrideW, g.Width)
				if x0 >= x1 {
					continue
				}
				for y := 0; y < oh; y++ {
					iy := y*g.StrideH - g.PadH + ky*g.DilationH
					if iy < 0 || iy >= g.Height {
						continue
					}
					s := srcRows[y*ow+x0 : y*ow+x1]
					dst := plane[iy*g.Width : (iy+1)*g.Width]
					ix := x0*g.StrideW + kx*g.DilationW - g.PadW
					if g.StrideW == 1 {
						d := dst[ix : ix+len(s)]
						for i, v := range s {
							d[i] += v
						}
					} else {
						for _, v := range s {
							dst[ix] += v
							ix += g.StrideW
						}
					}
				}
			}
		}
	}
}

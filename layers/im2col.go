package layers

import (
	"unsafe"

	"github.com/cos-project/cos/blas"
)

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

// im2colFast writes the column matrix of one image; its row r (of
// outH*outW floats) starts at col[r*ld].
func im2colFast(g *blas.ConvGeom, data, col []float32, ld int) {
	oh, ow := g.OutH(), g.OutW()
	h, w := g.Height, g.Width
	sh, sw := g.StrideH, g.StrideW
	r := 0
	for c := 0; c < g.Channels; c++ {
		plane := data[c*h*w : (c+1)*h*w]
		for ky := 0; ky < g.KernelH; ky++ {
			offY := ky*g.DilationH - g.PadH
			for kx := 0; kx < g.KernelW; kx++ {
				off := kx*g.DilationW - g.PadW
				x0, x1 := colSpan(ow, w, sw, off)
				i := r * ld
				r++
				for y := 0; y < oh; y++ {
					row := col[i : i+ow]
					i += ow
					iy := y*sh + offY
					if iy < 0 || iy >= h || x0 == x1 {
						clear(row)
						continue
					}
					if x0 > 0 {
						clear(row[:x0])
					}
					if x1 < ow {
						clear(row[x1:])
					}
					src := plane[iy*w : (iy+1)*w]
					if sw == 1 {
						copyShort(row[x0:x1], src[x0+off:x1+off])
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
						addShort(dst[x0+off:x1+off], src)
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

// copyShort is copy for the short rows of small images (LeNet's conv2:
// 8 floats), where a call to memmove costs more than the move: whole
// 8-float blocks move as arrays (two vector moves each).
func copyShort(d, s []float32) {
	s = s[:len(d)]
	for len(d) >= 8 {
		*(*[8]float32)(d) = *(*[8]float32)(s)
		d, s = d[8:], s[8:]
	}
	for x := range d {
		d[x] = s[x]
	}
}

// addShort adds s into d (same length), 8 floats per step.
func addShort(d, s []float32) {
	d = d[:len(s)]
	for len(s) >= 8 {
		dd, ss := (*[8]float32)(d), (*[8]float32)(s)
		dd[0] += ss[0]
		dd[1] += ss[1]
		dd[2] += ss[2]
		dd[3] += ss[3]
		dd[4] += ss[4]
		dd[5] += ss[5]
		dd[6] += ss[6]
		dd[7] += ss[7]
		d, s = d[8:], s[8:]
	}
	for x, v := range s {
		d[x] += v
	}
}

// Stride 1, dilation 1 (every layer of LeNet and CIFAR-10): the image is
// first copied into a zero-bordered buffer when there is padding, after
// which every column-matrix row segment is a straight copy of outW floats
// at a fixed stride, with no bounds logic at all. The row loops are
// specialised for LeNet's and CIFAR-10's widths (8, 16, 24, 32), where a
// fixed-size array copy beats both memmove and a generic loop.

// isUnitStride reports whether g can use im2colS1/col2imS1.
func isUnitStride(g *blas.ConvGeom) bool {
	return g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1
}

// paddedSize is the size of the zero-bordered copy of an image (0 when
// there is no padding: the image itself is used).
func paddedSize(g *blas.ConvGeom) int {
	if g.PadH == 0 && g.PadW == 0 {
		return 0
	}
	return g.Channels * (g.Height + 2*g.PadH) * (g.Width + 2*g.PadW)
}

// padImage copies data into pad with a zero border; pad's border must
// already be zero (it is never written otherwise).
func padImage(g *blas.ConvGeom, data, pad []float32) {
	h, w := g.Height, g.Width
	wp := w + 2*g.PadW
	hp := h + 2*g.PadH
	if im2colAVX && !im2colScalarOnly && w%8 == 0 && h > 0 && w > 0 {
		// One call per channel instead of a memmove per (short) row.
		for c := 0; c < g.Channels; c++ {
			src := data[c*h*w : (c+1)*h*w]
			dst := pad[c*hp*wp : (c+1)*hp*wp]
			o := g.PadH*wp + g.PadW
			_ = dst[o+(h-1)*wp+w-1]
			copyRowsAVX(&dst[o], &src[0], h, w, wp, w)
		}
		return
	}
	for c := 0; c < g.Channels; c++ {
		src := data[c*h*w : (c+1)*h*w]
		dst := pad[c*hp*wp : (c+1)*hp*wp]
		for y := 0; y < h; y++ {
			o := (y+g.PadH)*wp + g.PadW
			copy(dst[o:o+w], src[y*w:(y+1)*w])
		}
	}
}

// im2colS1 is im2colFast for unit stride and dilation. pad is scratch of
// paddedSize(g) floats with a zero border.
func im2colS1(g *blas.ConvGeom, data, col, pad []float32, ld int) {
	src, hp, wp := data, g.Height, g.Width
	if len(pad) > 0 {
		padImage(g, data, pad)
		src, hp, wp = pad, g.Height+2*g.PadH, g.Width+2*g.PadW
	}
	oh, ow := g.OutH(), g.OutW()
	if im2colAVX && !im2colScalarOnly && ow%8 == 0 && oh > 0 && ow > 0 {
		kk := g.KernelH * g.KernelW
		for c := 0; c < g.Channels; c++ {
			plane := src[c*hp*wp : (c+1)*hp*wp]
			// Every element the kernel reads and writes, checked up front.
			_ = plane[(g.KernelH-1+oh-1)*wp+g.KernelW-1+ow-1]
			r := c * kk
			_ = col[(r+kk-1)*ld+oh*ow-1]
			im2colPlaneAVX(&col[r*ld], &plane[0], ld, wp, g.KernelH, g.KernelW, oh, ow)
		}
		return
	}
	r := 0
	for c := 0; c < g.Channels; c++ {
		plane := src[c*hp*wp : (c+1)*hp*wp]
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				copyRows(col[r*ld:r*ld+oh*ow], plane[ky*wp+kx:], oh, ow, wp)
				r++
			}
		}
	}
}

// im2colScalarOnly makes im2colS1/col2imS1 skip the assembly kernels
// (tests compare the two).
var im2colScalarOnly = false

// copyRows copies n rows of w floats, src rows stride apart, into dst.
// Widths that are a multiple of 8 move as [8]float32 blocks (two vector
// moves each) through pointers checked once up front: with rows this
// short, per-row bounds checks and memmove calls cost more than the data.
func copyRows(dst, src []float32, n, w, stride int) {
	if n == 0 || w == 0 {
		return
	}
	if w%8 != 0 || w > 32 {
		for y := 0; y < n; y++ {
			copy(dst[y*w:(y+1)*w], src[y*stride:y*stride+w])
		}
		return
	}
	_ = dst[n*w-1]
	_ = src[(n-1)*stride+w-1]
	// Pointers are formed only for rows that exist: one past the end
	// would be an invalid pointer (the race detector's checkptr, the GC).
	d0, s0 := unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0])
	rowD, rowS := uintptr(w*4), uintptr(stride*4)
	switch w {
	case 8:
		for y := uintptr(0); y < uintptr(n); y++ {
			mov32(unsafe.Add(d0, y*rowD), unsafe.Add(s0, y*rowS))
		}
	case 16:
		for y := uintptr(0); y < uintptr(n); y++ {
			d, s := unsafe.Add(d0, y*rowD), unsafe.Add(s0, y*rowS)
			mov32(d, s)
			mov32(unsafe.Add(d, 32), unsafe.Add(s, 32))
		}
	default: // 24, 32
		for y := uintptr(0); y < uintptr(n); y++ {
			d, s := unsafe.Add(d0, y*rowD), unsafe.Add(s0, y*rowS)
			for k := uintptr(0); k < rowD; k += 32 {
				mov32(unsafe.Add(d, k), unsafe.Add(s, k))
			}
		}
	}
}

// mov32 copies 32 bytes from s to d (not overlapping) as four words: an
// array assignment through pointers would be a memmove call.
func mov32(d, s unsafe.Pointer) {
	sp, dp := (*[4]uint64)(s), (*[4]uint64)(d)
	a, b, c, e := sp[0], sp[1], sp[2], sp[3]
	dp[0], dp[1], dp[2], dp[3] = a, b, c, e
}

// col2imS1 is col2imFast for unit stride and dilation: it accumulates into
// the zero-bordered scratch pad (when there is padding) and copies the
// interior out, so the sums need no bounds logic either.
func col2imS1(g *blas.ConvGeom, col, data, pad []float32) {
	dst, hp, wp := data, g.Height, g.Width
	if len(pad) > 0 {
		dst, hp, wp = pad, g.Height+2*g.PadH, g.Width+2*g.PadW
	}
	clear(dst[:g.Channels*hp*wp])
	oh, ow := g.OutH(), g.OutW()
	i := 0
	for c := 0; c < g.Channels; c++ {
		plane := dst[c*hp*wp : (c+1)*hp*wp]
		if im2colAVX && !im2colScalarOnly && ow%8 == 0 && oh > 0 && ow > 0 {
			// The same adds in the same order, eight lanes at a time.
			kk := g.KernelH * g.KernelW
			_ = plane[(g.KernelH-1+oh-1)*wp+g.KernelW-1+ow-1]
			_ = col[i+kk*oh*ow-1]
			col2imPlaneAVX(&plane[0], &col[i], wp, g.KernelH, g.KernelW, oh, ow)
			i += kk * oh * ow
			continue
		}
		for ky := 0; ky < g.KernelH; ky++ {
			for kx := 0; kx < g.KernelW; kx++ {
				addRows(plane[ky*wp+kx:], col[i:i+oh*ow], oh, ow, wp)
				i += oh * ow
			}
		}
	}
	if len(pad) == 0 {
		return
	}
	h, w := g.Height, g.Width
	for c := 0; c < g.Channels; c++ {
		for y := 0; y < h; y++ {
			o := c*hp*wp + (y+g.PadH)*wp + g.PadW
			copy(data[(c*h+y)*w:(c*h+y+1)*w], pad[o:o+w])
		}
	}
	// The border took sums of padding positions: zero it again for the
	// next im2colS1, which relies on it.
	clearBorder(g, pad)
}

// clearBorder zeroes the border of a padded buffer.
func clearBorder(g *blas.ConvGeom, pad []float32) {
	h, w := g.Height, g.Width
	hp, wp := h+2*g.PadH, w+2*g.PadW
	for c := 0; c < g.Channels; c++ {
		plane := pad[c*hp*wp : (c+1)*hp*wp]
		clear(plane[:g.PadH*wp])
		clear(plane[(g.PadH+h)*wp:])
		for y := g.PadH; y < g.PadH+h; y++ {
			clear(plane[y*wp : y*wp+g.PadW])
			clear(plane[y*wp+g.PadW+w : (y+1)*wp])
		}
	}
}

// addRows adds n rows of w floats from src into dst rows stride apart;
// like copyRows, widths 8 and 16 go through pointers checked once.
func addRows(dst, src []float32, n, w, stride int) {
	if n == 0 || w == 0 {
		return
	}
	if w != 8 && w != 16 {
		for y := 0; y < n; y++ {
			d, s := dst[y*stride:y*stride+w], src[y*w:(y+1)*w]
			for k := range d {
				d[k] += s[k]
			}
		}
		return
	}
	_ = dst[(n-1)*stride+w-1]
	_ = src[n*w-1]
	d0, s0 := unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0])
	rowD, rowS := uintptr(stride*4), uintptr(w*4)
	for y := uintptr(0); y < uintptr(n); y++ {
		d, s := unsafe.Add(d0, y*rowD), unsafe.Add(s0, y*rowS)
		add8((*[8]float32)(d), (*[8]float32)(s))
		if w == 16 {
			add8((*[8]float32)(unsafe.Add(d, 32)), (*[8]float32)(unsafe.Add(s, 32)))
		}
	}
}

// add8 is d += s, unrolled (Go does not unroll loops).
func add8(d, s *[8]float32) {
	d[0] += s[0]
	d[1] += s[1]
	d[2] += s[2]
	d[3] += s[3]
	d[4] += s[4]
	d[5] += s[5]
	d[6] += s[6]
	d[7] += s[7]
}

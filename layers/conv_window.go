package layers

import "github.com/cos-project/cos/prototxt/caffepb"

// convWindow holds the kernel, pad, stride and dilation of Convolution
// and Deconvolution for two spatial axes.
type convWindow struct {
	kh, kw, ph, pw, sh, sw, dh, dw int
	is1x1                          bool // 1x1 kernel, stride 1, no pad: no col2im needed
}

// parseConvWindow reads kernel/pad/stride/dilation from a
// ConvolutionParameter in every form Caffe accepts for two spatial axes:
// kernel_size/pad/stride/dilation given once or once per axis, or the
// kernel_h/_w, pad_h/_w, stride_h/_w fields.
func parseConvWindow(lp *caffepb.LayerParameter) (convWindow, error) {
	var g convWindow
	cp := lp.GetConvolutionParam()
	if cp == nil {
		// No convolution_param at all: the kernel_size error below says what is missing.
		cp = &caffepb.ConvolutionParameter{}
	}
	pick := func(field string, vals []uint32, def int) (int, int, error) {
		switch len(vals) {
		case 0:
			return def, def, nil
		case 1:
			return int(vals[0]), int(vals[0]), nil
		case 2:
			return int(vals[0]), int(vals[1]), nil
		}
		return 0, 0, layerErr(lp, "%s must be specified once, or once per spatial dimension (%s specified %d times; 2 spatial dims)", field, field, len(vals))
	}
	var err error
	if cp.KernelH != nil || cp.KernelW != nil {
		if len(cp.GetKernelSize()) != 0 {
			return g, layerErr(lp, "either kernel_size or kernel_h/w should be specified; not both")
		}
		if cp.KernelH == nil || cp.KernelW == nil {
			return g, layerErr(lp, "for non-square filters both kernel_h and kernel_w are required")
		}
		g.kh, g.kw = int(cp.GetKernelH()), int(cp.GetKernelW())
	} else {
		if len(cp.GetKernelSize()) == 0 {
			return g, layerErr(lp, "kernel_size or kernel_h and kernel_w must be specified")
		}
		if g.kh, g.kw, err = pick("kernel_size", cp.GetKernelSize(), 0); err != nil {
			return g, err
		}
	}
	if g.kh <= 0 || g.kw <= 0 {
		return g, layerErr(lp, "filter dimensions must be nonzero (kernel %dx%d)", g.kh, g.kw)
	}
	if cp.PadH != nil || cp.PadW != nil {
		if len(cp.GetPad()) != 0 {
			return g, layerErr(lp, "either pad or pad_h/w should be specified; not both")
		}
		g.ph, g.pw = int(cp.GetPadH()), int(cp.GetPadW())
	} else if g.ph, g.pw, err = pick("pad", cp.GetPad(), 0); err != nil {
		return g, err
	}
	if cp.StrideH != nil || cp.StrideW != nil {
		if len(cp.GetStride()) != 0 {
			return g, layerErr(lp, "either stride or stride_h/w should be specified; not both")
		}
		if cp.StrideH == nil || cp.StrideW == nil {
			return g, layerErr(lp, "for non-square strides both stride_h and stride_w are required")
		}
		g.sh, g.sw = int(cp.GetStrideH()), int(cp.GetStrideW())
	} else if g.sh, g.sw, err = pick("stride", cp.GetStride(), 1); err != nil {
		return g, err
	}
	if g.sh <= 0 || g.sw <= 0 {
		return g, layerErr(lp, "stride dimensions must be nonzero (stride %dx%d)", g.sh, g.sw)
	}
	if g.dh, g.dw, err = pick("dilation", cp.GetDilation(), 1); err != nil {
		return g, err
	}
	if g.dh <= 0 || g.dw <= 0 {
		return g, layerErr(lp, "dilation dimensions must be nonzero (dilation %dx%d)", g.dh, g.dw)
	}
	g.is1x1 = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0
	return g, nil
}

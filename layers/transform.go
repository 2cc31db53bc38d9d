package layers

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // encoded Datums may hold any format Go decodes
	_ "image/jpeg"
	_ "image/png"
	"math/rand"

	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Transformer is Caffe's DataTransformer: it turns one record into the
// float32 values of one item of a data layer's top, applying
// transform_param in Caffe's order: optional decode of an encoded image,
// crop (random offsets in TRAIN, centred in TEST), mirror, mean subtraction
// (mean_file or mean_value), then scale:
//
//	out[c][h][w] = (in[c][h+h_off][w'+w_off] - mean) * scale
//
// where w' = crop_w-1-w when mirroring. Mean files are indexed at the
// uncropped position, as in Caffe.
//
// Unlike Caffe, which mirrors randomly in every phase when mirror is set,
// mirroring happens in TRAIN only, so TEST results are deterministic.
//
// A Transformer is not safe for concurrent use; its random source must not
// be shared with other goroutines.
type Transformer struct {
	phase      caffepb.Phase
	scale      float32
	mirror     bool
	crop       int
	mean       []float32 // mean_file, C×H×W
	meanC      int
	meanH      int
	meanW      int
	meanValues []float32
	color      ColorMode
	rand       *rand.Rand

	pix []byte // decoded pixels of an encoded record, reused

	// The record of the last Prepare.
	curPix   []byte
	curFloat []float32
	c, h, w  int
}

// MeanLoader reads a mean file (a binary BlobProto); nil means
// prototxt.LoadBlobProto.
type MeanLoader func(path string) (*caffepb.BlobProto, error)

// NewTransformer builds a transformer for tp (nil means no transformation).
// rng draws crop offsets and mirror decisions; pass a source owned by the
// goroutine that calls Transform.
func NewTransformer(tp *caffepb.TransformationParameter, phase caffepb.Phase, rng *rand.Rand, load MeanLoader) (*Transformer, error) {
	t := &Transformer{
		phase:  phase,
		scale:  tp.GetScale(),
		mirror: tp.GetMirror(),
		crop:   int(tp.GetCropSize()),
		rand:   rng,
	}
	if t.rand == nil {
		t.rand = rand.New(rand.NewSource(1))
	}
	switch {
	case tp.GetForceColor() && tp.GetForceGray():
		return nil, fmt.Errorf("transform_param: force_color and force_gray are exclusive")
	case tp.GetForceColor():
		t.color = ForceColor
	case tp.GetForceGray():
		t.color = ForceGray
	}
	if tp.GetMeanFile() != "" && len(tp.GetMeanValue()) > 0 {
		return nil, fmt.Errorf("transform_param: mean_file and mean_value cannot both be set")
	}
	t.meanValues = tp.GetMeanValue()
	if f := tp.GetMeanFile(); f != "" {
		if load == nil {
			load = prototxt.LoadBlobProto
		}
		bp, err := load(f)
		if err != nil {
			return nil, fmt.Errorf("transform_param.mean_file: %w", err)
		}
		if err := t.setMean(bp); err != nil {
			return nil, fmt.Errorf("transform_param.mean_file %s: %w", f, err)
		}
	}
	return t, nil
}

// setMean accepts the legacy num=1/channels/height/width layout that
// compute_image_mean writes and the shape layout ([1,C,H,W] or [C,H,W]).
func (t *Transformer) setMean(bp *caffepb.BlobProto) error {
	var b Blob
	if err := b.FromProto(bp, true); err != nil {
		return err
	}
	shape := b.Shape()
	if len(shape) < 3 || len(shape) > 4 || (len(shape) == 4 && shape[0] != 1) {
		return fmt.Errorf("mean blob has shape %v, want 1×C×H×W", shape)
	}
	n := len(shape)
	t.meanC, t.meanH, t.meanW = shape[n-3], shape[n-2], shape[n-1]
	t.mean = b.Data
	return nil
}

// OutShape is the shape of one transformed item for an input of c×h×w.
func (t *Transformer) OutShape(c, h, w int) (int, int, int, error) {
	if t.crop > 0 {
		if t.crop > h || t.crop > w {
			return 0, 0, 0, fmt.Errorf("crop_size %d is larger than the %d×%d input", t.crop, h, w)
		}
		return c, t.crop, t.crop, nil
	}
	return c, h, w, nil
}

// Transform writes the transformed record into dst, which must hold exactly
// the OutShape of the record. It allocates nothing for raw records.
func (t *Transformer) Transform(s *Sample, dst []float32) error {
	if _, _, _, err := t.Prepare(s); err != nil {
		return err
	}
	return t.Apply(dst)
}

// Prepare decodes s if it is encoded, checks its size, and returns the
// shape of its pixels; Apply then transforms it. Splitting the two lets a
// data layer check the decoded shape before writing anything.
func (t *Transformer) Prepare(s *Sample) (c, h, w int, err error) {
	c, h, w = s.Channels, s.Height, s.Width
	t.curPix, t.curFloat = nil, nil
	switch {
	case s.Encoded:
		t.pix, c, h, w, err = DecodeImage(s.Data, t.color, t.pix)
		if err != nil {
			return 0, 0, 0, err
		}
		t.curPix = t.pix
	case len(s.Data) > 0:
		if len(s.Data) != c*h*w {
			return 0, 0, 0, fmt.Errorf("record holds %d data bytes, but its shape %d×%d×%d needs %d", len(s.Data), c, h, w, c*h*w)
		}
		t.curPix = s.Data
	default:
		if len(s.FloatData) != c*h*w {
			return 0, 0, 0, fmt.Errorf("record holds %d float_data values, but its shape %d×%d×%d needs %d", len(s.FloatData), c, h, w, c*h*w)
		}
		t.curFloat = s.FloatData
	}
	if c <= 0 || h <= 0 || w <= 0 {
		return 0, 0, 0, fmt.Errorf("record has empty shape %d×%d×%d", c, h, w)
	}
	t.c, t.h, t.w = c, h, w
	return c, h, w, nil
}

// Apply transforms the record of the last successful Prepare into dst.
func (t *Transformer) Apply(dst []float32) error {
	c, h, w := t.c, t.h, t.w
	pix, fl := t.curPix, t.curFloat
	oc, oh, ow, err := t.OutShape(c, h, w)
	if err != nil {
		return err
	}
	if len(dst) != oc*oh*ow {
		return fmt.Errorf("record of shape %d×%d×%d gives %d values, the batch item holds %d", c, h, w, oc*oh*ow, len(dst))
	}
	if t.mean != nil && (t.meanC != c || t.meanH != h || t.meanW != w) {
		return fmt.Errorf("mean_file has shape %d×%d×%d, the record %d×%d×%d", t.meanC, t.meanH, t.meanW, c, h, w)
	}
	if n := len(t.meanValues); n > 1 && n != c {
		return fmt.Errorf("transform_param has %d mean_value entries for %d channels (give 1 or %d)", n, c, c)
	}
	// Caffe draws the mirror coin first, then the crop offsets.
	mirror := t.mirror && t.phase == caffepb.Phase_TRAIN && t.rand.Intn(2) == 1
	hOff, wOff := 0, 0
	if t.crop > 0 {
		if t.phase == caffepb.Phase_TRAIN {
			hOff = t.rand.Intn(h - t.crop + 1)
			wOff = t.rand.Intn(w - t.crop + 1)
		} else {
			hOff = (h - t.crop) / 2
			wOff = (w - t.crop) / 2
		}
	}
	for ci := 0; ci < c; ci++ {
		mv := float32(0)
		if len(t.meanValues) == 1 {
			mv = t.meanValues[0]
		} else if len(t.meanValues) > 1 {
			mv = t.meanValues[ci]
		}
		for hi := 0; hi < oh; hi++ {
			in := (ci*h+hOff+hi)*w + wOff
			out := dst[(ci*oh+hi)*ow : (ci*oh+hi+1)*ow]
			var mrow []float32
			if t.mean != nil {
				mrow = t.mean[in : in+ow]
			}
			for wi := range out {
				var v float32
				if pix != nil {
					v = float32(pix[in+wi])
				} else {
					v = fl[in+wi]
				}
				if mrow != nil {
					v -= mrow[wi]
				} else {
					v -= mv
				}
				if mirror {
					out[ow-1-wi] = v * t.scale
				} else {
					out[wi] = v * t.scale
				}
			}
		}
	}
	return nil
}

// ColorMode says how an encoded image is decoded.
type ColorMode int

const (
	// ColorNative keeps a grayscale image 1-channel and gives others 3
	// channels (OpenCV's IMREAD_ANYCOLOR, Caffe's default for encoded Datums).
	ColorNative ColorMode = iota
	// ForceColor gives 3 channels (transform_param.force_color).
	ForceColor
	// ForceGray gives 1 channel (transform_param.force_gray).
	ForceGray
)

// DecodeImage decodes a PNG, JPEG or GIF into channel-major pixels in
// OpenCV's BGR channel order (what Caffe's converters store), reusing buf.
func DecodeImage(data []byte, mode ColorMode, buf []byte) (pix []byte, c, h, w int, err error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return buf, 0, 0, 0, fmt.Errorf("decoding encoded image: %w", err)
	}
	pix, c, h, w = ImagePixels(img, mode, buf)
	return pix, c, h, w, nil
}

// ImagePixels converts an image to channel-major 8-bit pixels: 3 channels in
// BGR order, or 1 gray channel (OpenCV's weights 0.299 R + 0.587 G + 0.114 B,
// or the luma plane of a JPEG), reusing buf. Alpha is dropped, as OpenCV does.
func ImagePixels(img image.Image, mode ColorMode, buf []byte) (pix []byte, c, h, w int) {
	r := img.Bounds()
	h, w = r.Dy(), r.Dx()
	gray := mode == ForceGray
	if mode == ColorNative {
		switch img.(type) {
		case *image.Gray, *image.Gray16:
			gray = true
		}
	}
	c = 3
	if gray {
		c = 1
	}
	n := c * h * w
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	pix = buf[:n]
	if m, ok := img.(*image.YCbCr); ok && ycbcrPixels(m, gray, pix) {
		return pix, c, h, w
	}
	plane := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var R, G, B uint8
			px, py := r.Min.X+x, r.Min.Y+y
			switch m := img.(type) {
			case *image.Gray:
				v := m.Pix[m.PixOffset(px, py)]
				R, G, B = v, v, v
			case *image.NRGBA:
				o := m.PixOffset(px, py)
				R, G, B = m.Pix[o], m.Pix[o+1], m.Pix[o+2]
			case *image.RGBA:
				o := m.PixOffset(px, py)
				R, G, B = m.Pix[o], m.Pix[o+1], m.Pix[o+2]
			default:
				v := color.NRGBAModel.Convert(img.At(px, py)).(color.NRGBA)
				R, G, B = v.R, v.G, v.B
			}
			i := y*w + x
			if gray {
				pix[i] = grayOf(R, G, B)
			} else {
				pix[i], pix[plane+i], pix[2*plane+i] = B, G, R
			}
		}
	}
	return pix, c, h, w
}

// ycbcrPixels converts a decoded JPEG the way libjpeg (behind OpenCV's
// imread) does: gray is the luma plane itself; colour upsamples 4:2:0 and
// 4:2:2 chroma with libjpeg's "fancy" triangle filter and converts with its
// fixed-point YCbCr→RGB tables. Go's decoder would replicate chroma
// samples instead, which differs from Caffe's pixels by up to ~40 levels at
// colour edges. It reports false for layouts it leaves to the generic path.
func ycbcrPixels(m *image.YCbCr, gray bool, pix []byte) bool {
	r := m.Rect
	h, w := r.Dy(), r.Dx()
	if gray {
		for y := 0; y < h; y++ {
			o := m.YOffset(r.Min.X, r.Min.Y+y)
			copy(pix[y*w:(y+1)*w], m.Y[o:o+w])
		}
		return true
	}
	if r.Min.X != 0 || r.Min.Y != 0 {
		return false
	}
	var cb, cr []byte
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cb, cr = m.Cb, m.Cr
	case image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422:
		v2 := m.SubsampleRatio == image.YCbCrSubsampleRatio420
		cb = fancyUpsample(m.Cb, m.CStride, (w+1)/2, len(m.Cb)/max(m.CStride, 1), w, h, v2)
		cr = fancyUpsample(m.Cr, m.CStride, (w+1)/2, len(m.Cr)/max(m.CStride, 1), w, h, v2)
	default:
		return false
	}
	cstride := m.CStride
	if m.SubsampleRatio != image.YCbCrSubsampleRatio444 {
		cstride = w
	}
	plane := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			Y := int32(m.Y[y*m.YStride+x])
			cbv, crv := cb[y*cstride+x], cr[y*cstride+x]
			i := y*w + x
			pix[i] = clampByte(Y + crTabs.cbB[cbv])
			pix[plane+i] = clampByte(Y + (crTabs.cbG[cbv]+crTabs.crG[crv])>>16)
			pix[2*plane+i] = clampByte(Y + crTabs.crR[crv])
		}
	}
	return true
}

// fancyUpsample doubles a chroma plane of cw×ch samples horizontally (and
// vertically when v2) to w×h with libjpeg's triangle filter: each output
// sample weighs its nearer input 3/4 and the next nearest 1/4, with
// libjpeg's alternating rounding biases; edges replicate.
func fancyUpsample(p []byte, stride, cw, ch, w, h int, v2 bool) []byte {
	out := make([]byte, w*h)
	row := make([]int32, cw)
	for y := 0; y < h; y++ {
		near := y
		far := y
		scale := int32(1) // colsum = sample*scale (h2v1) or near*3+far (h2v2)
		if v2 {
			near = y / 2
			if y%2 == 0 {
				far = near - 1
			} else {
				far = near + 1
			}
			far = max(0, min(far, ch-1))
			scale = 4
		}
		near = min(near, ch-1)
		for i := 0; i < cw; i++ {
			if v2 {
				row[i] = int32(p[near*stride+i])*3 + int32(p[far*stride+i])
			} else {
				row[i] = int32(p[near*stride+i])
			}
		}
		o := out[y*w : (y+1)*w]
		put := func(x int, v int32) {
			if x < w {
				o[x] = uint8(v)
			}
		}
		// With scale 4 (h2v2) sums carry 4× the sample, so shifts are by 4;
		// h2v1 shifts by 2. The biases are libjpeg's.
		sh, b0, b1 := uint(2), int32(1), int32(2)
		if scale == 4 {
			sh, b0, b1 = 4, 8, 7
		}
		for i := 0; i < cw; i++ {
			this := row[i]
			prev := row[max(i-1, 0)]
			next := row[min(i+1, cw-1)]
			if i == 0 {
				put(0, (this*4+b0)>>sh)
			} else {
				put(2*i, (this*3+prev+b0)>>sh)
			}
			if i == cw-1 {
				put(2*i+1, (this*4+b1)>>sh)
			} else {
				put(2*i+1, (this*3+next+b1)>>sh)
			}
		}
	}
	return out
}

// crTabs are libjpeg's YCbCr→RGB tables (jdcolor.c, 16-bit fixed point).
var crTabs = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	fix := func(x float64) int32 { return int32(x*65536 + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + 1<<15) >> 16
		t.cbB[i] = (fix(1.77200)*x + 1<<15) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + 1<<15
	}
	return t
}()

func clampByte(v int32) uint8 {
	return uint8(max(0, min(v, 255)))
}

// grayOf is OpenCV's fixed-point RGB to gray conversion.
func grayOf(r, g, b uint8) uint8 {
	return uint8((uint32(r)*4899 + uint32(g)*9617 + uint32(b)*1868 + 8192) >> 14)
}

package lmdb

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// ImageOptions are convert_imageset's flags.
type ImageOptions struct {
	// Root is prepended to every path of the list (Caffe's ROOTFOLDER/).
	Root string
	// ResizeHeight and ResizeWidth resize every image (bilinear) when both
	// are positive.
	ResizeHeight, ResizeWidth int
	// Gray stores 1-channel images instead of 3-channel BGR ones.
	Gray bool
	// Shuffle randomises the order of the list with Seed.
	Shuffle bool
	Seed    int64
	// Encoded stores the image file's bytes (re-encoded when resized or
	// when EncodeType asks for another format) instead of raw pixels.
	Encoded bool
	// EncodeType is "png" or "jpg" (implies Encoded); empty keeps each
	// file's own format, as convert_imageset guesses it from the name.
	EncodeType string
	// CheckSize requires every image to have the size of the first.
	CheckSize bool
	Logf      Logf
}

// ImageEntry is one line of an image list.
type ImageEntry struct {
	Path  string
	Label int
}

// ReadImageList parses a convert_imageset list: one "path label" per line,
// the label after the last space (so paths may contain spaces). Blank lines
// are skipped; anything else malformed is an error naming file and line.
func ReadImageList(path string) ([]ImageEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []ImageEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimRight(sc.Text(), " \t\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		i := strings.LastIndexAny(s, " \t")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: want \"path label\", got %q", path, line, s)
		}
		label, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: label %q is not an integer", path, line, s[i+1:])
		}
		out = append(out, ImageEntry{Path: strings.TrimRight(s[:i], " \t"), Label: label})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ConvertImages builds an LMDB at out from an image list, like Caffe's
// convert_imageset: keys "%08d_<path>" numbered in (possibly shuffled) list
// order, pixels channel-major in OpenCV's BGR order (or 1 gray channel).
// Images that cannot be read are skipped with a log line, as Caffe does; a
// list from which nothing can be read is an error.
func ConvertImages(listPath, out string, opt ImageOptions) (int, error) {
	switch strings.ToLower(opt.EncodeType) {
	case "":
	case "png", "jpg", "jpeg":
		opt.Encoded = true
	default:
		return 0, fmt.Errorf("encode_type %q: only png and jpg are supported", opt.EncodeType)
	}
	entries, err := ReadImageList(listPath)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, fmt.Errorf("%s: no images listed", listPath)
	}
	if opt.Shuffle {
		opt.Logf.printf("Shuffling data")
		r := rand.New(rand.NewSource(opt.Seed))
		r.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	}
	opt.Logf.printf("A total of %d images.", len(entries))
	if (opt.ResizeHeight > 0) != (opt.ResizeWidth > 0) {
		opt.Logf.printf("resize_height and resize_width must both be set to resize; not resizing")
	}
	skipped := 0
	n, err := writeDB(out, func(w *Writer) error {
		var pix []byte
		firstC, firstH, firstW := -1, 0, 0
		for i, e := range entries {
			// Caffe concatenates root and path; joining also forgives a
			// root without its trailing slash.
			file := filepath.Join(opt.Root, e.Path)
			var d *caffepb.Datum
			d, pix, err = imageDatum(file, e.Label, opt, pix)
			if err != nil {
				opt.Logf.printf("Could not read %s: %v (skipped)", file, err)
				skipped++
				continue
			}
			if opt.CheckSize && !opt.Encoded {
				c, h, wd := int(d.GetChannels()), int(d.GetHeight()), int(d.GetWidth())
				if firstC < 0 {
					firstC, firstH, firstW = c, h, wd
				} else if c != firstC || h != firstH || wd != firstW {
					return fmt.Errorf("%s: size %d×%d×%d differs from the first image's %d×%d×%d", file, c, h, wd, firstC, firstH, firstW)
				}
			}
			if err := w.Put(fmt.Sprintf("%08d_%s", i, e.Path), d); err != nil {
				return err
			}
			if (w.Count())%1000 == 0 {
				opt.Logf.printf("Processed %d files.", w.Count())
			}
		}
		if w.Count() == 0 {
			return fmt.Errorf("%s: none of the %d listed images could be read", listPath, len(entries))
		}
		return nil
	})
	if skipped > 0 && err == nil {
		opt.Logf.printf("Skipped %d unreadable images.", skipped)
	}
	return n, err
}

// imageDatum reads one image file into a Datum.
func imageDatum(file string, label int, opt ImageOptions, pix []byte) (*caffepb.Datum, []byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, pix, err
	}
	img, format, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, pix, err
	}
	mode := layers.ForceColor
	if opt.Gray {
		mode = layers.ForceGray
	}
	resize := opt.ResizeHeight > 0 && opt.ResizeWidth > 0
	d := &caffepb.Datum{Label: proto.Int32(int32(label))}
	target := format
	switch strings.ToLower(opt.EncodeType) {
	case "jpg", "jpeg":
		target = "jpeg"
	case "png":
		target = "png"
	}
	if target != "jpeg" {
		target = "png" // what cannot be stored as is becomes a PNG
	}
	if opt.Encoded && !resize && format == target {
		// Caffe stores the file itself whenever it is not resized, even
		// with -gray: the channel count is settled when decoding
		// (transform_param.force_gray / force_color).
		d.Data = raw
		d.Encoded = proto.Bool(true)
		return d, pix, nil
	}
	var c, h, w int
	pix, c, h, w = layers.ImagePixels(img, mode, pix)
	if resize {
		out := make([]byte, c*opt.ResizeHeight*opt.ResizeWidth)
		Resize(pix, c, h, w, out, opt.ResizeHeight, opt.ResizeWidth)
		pix, h, w = out, opt.ResizeHeight, opt.ResizeWidth
	}
	if opt.Encoded {
		enc, err := encodePixels(pix, c, h, w, target)
		if err != nil {
			return nil, pix, err
		}
		d.Data = enc
		d.Encoded = proto.Bool(true)
		return d, pix, nil
	}
	d.Channels, d.Height, d.Width = proto.Int32(int32(c)), proto.Int32(int32(h)), proto.Int32(int32(w))
	d.Data = append([]byte(nil), pix...)
	return d, pix, nil
}

// encodePixels encodes channel-major BGR (or gray) pixels as a JPEG when the
// source was one (quality 95, OpenCV's default), else as a PNG.
func encodePixels(pix []byte, c, h, w int, format string) ([]byte, error) {
	var img image.Image
	plane := h * w
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		copy(g.Pix, pix[:plane])
		img = g
	} else {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < plane; i++ {
			m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = pix[2*plane+i], pix[plane+i], pix[i], 255
		}
		img = m
	}
	var buf bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(&buf, img)
	}
	return buf.Bytes(), err
}

// Resize scales channel-major 8-bit pixels from h×w to oh×ow with OpenCV's
// INTER_LINEAR resize (what convert_imageset calls), reproducing its
// fixed-point arithmetic: source positions (dst+0.5)·scale−0.5 in float32,
// 11-bit weights, the horizontal pass kept in ints and the vertical pass
// rounded as OpenCV's vectorised 8-bit path does. Columns outside the image
// snap to the border pixel; rows are clamped. The result matches
// cv2.resize(..., INTER_LINEAR) of OpenCV 4.6 exactly on the sizes tested.
func Resize(src []byte, c, h, w int, dst []byte, oh, ow int) {
	const scale = 1 << 11 // INTER_RESIZE_COEF_SCALE
	xi0, xi1, xw := resizeCoefs(ow, w, true)
	yi0, yi1, yw := resizeCoefs(oh, h, false)
	rowA := make([]int32, ow)
	rowB := make([]int32, ow)
	for ch := 0; ch < c; ch++ {
		p := src[ch*h*w : (ch+1)*h*w]
		q := dst[ch*oh*ow : (ch+1)*oh*ow]
		for y := 0; y < oh; y++ {
			ra, rb := p[yi0[y]*w:(yi0[y]+1)*w], p[yi1[y]*w:(yi1[y]+1)*w]
			for x := 0; x < ow; x++ {
				a0, a1 := int32(xw[x]), scale-int32(xw[x])
				rowA[x] = int32(ra[xi0[x]])*a0 + int32(ra[xi1[x]])*a1
				rowB[x] = int32(rb[xi0[x]])*a0 + int32(rb[xi1[x]])*a1
			}
			b0, b1 := int32(yw[y]), scale-int32(yw[y])
			out := q[y*ow : (y+1)*ow]
			for x := range out {
				v := (((rowA[x]>>4)*b0)>>16 + ((rowB[x]>>4)*b1)>>16 + 2) >> 2
				out[x] = uint8(clampInt(int(v), 0, 255))
			}
		}
	}
}

// resizeCoefs returns, per output position, the two source indices and the
// 11-bit weight of the first. snap is OpenCV's horizontal rule: a position
// left of the first or right of the last pixel takes that pixel whole.
func resizeCoefs(n, size int, snap bool) (i0, i1 []int, w0 []int16) {
	i0, i1, w0 = make([]int, n), make([]int, n), make([]int16, n)
	sc := 1 / (float64(n) / float64(size))
	for d := 0; d < n; d++ {
		f := float32((float64(d)+0.5)*sc - 0.5)
		i := int(math.Floor(float64(f)))
		f -= float32(i)
		if snap {
			if i < 0 {
				i, f = 0, 0
			}
			if i >= size-1 {
				i, f = size-1, 0
			}
		}
		i0[d], i1[d] = clampInt(i, 0, size-1), clampInt(i+1, 0, size-1)
		w0[d] = int16(math.RoundToEven(float64((1 - f) * 2048)))
	}
	return i0, i1, w0
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

package layers

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// seq returns 0, 1, ..., n-1 as bytes.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestTransformDeterministic(t *testing.T) {
	// A 2×3×4 record whose value is its flat index.
	rec := &Sample{Channels: 2, Height: 3, Width: 4, Data: seq(24)}
	legacyMean := &caffepb.BlobProto{Num: proto.Int32(1), Channels: proto.Int32(2), Height: proto.Int32(3), Width: proto.Int32(4),
		Data: make([]float32, 24)}
	for i := range legacyMean.Data {
		legacyMean.Data[i] = float32(i % 5)
	}
	shapeMean := &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{1, 2, 3, 4}}, Data: legacyMean.Data}
	cases := []struct {
		name  string
		tp    *caffepb.TransformationParameter
		phase caffepb.Phase
		want  func(c, h, w int) float32 // value at output position
		shape [3]int
	}{
		{"identity", nil, caffepb.Phase_TRAIN,
			func(c, h, w int) float32 { return float32(c*12 + h*4 + w) }, [3]int{2, 3, 4}},
		{"scale", &caffepb.TransformationParameter{Scale: proto.Float32(0.5)}, caffepb.Phase_TRAIN,
			func(c, h, w int) float32 { return float32(c*12+h*4+w) * 0.5 }, [3]int{2, 3, 4}},
		{"one mean value", &caffepb.TransformationParameter{MeanValue: []float32{3}}, caffepb.Phase_TEST,
			func(c, h, w int) float32 { return float32(c*12+h*4+w) - 3 }, [3]int{2, 3, 4}},
		{"mean per channel then scale", &caffepb.TransformationParameter{MeanValue: []float32{1, 10}, Scale: proto.Float32(2)}, caffepb.Phase_TEST,
			func(c, h, w int) float32 { return (float32(c*12+h*4+w) - []float32{1, 10}[c]) * 2 }, [3]int{2, 3, 4}},
		{"center crop in TEST", &caffepb.TransformationParameter{CropSize: proto.Uint32(2)}, caffepb.Phase_TEST,
			// offsets ((3-2)/2, (4-2)/2) = (0, 1)
			func(c, h, w int) float32 { return float32(c*12 + h*4 + w + 1) }, [3]int{2, 2, 2}},
		{"no mirror in TEST", &caffepb.TransformationParameter{Mirror: proto.Bool(true)}, caffepb.Phase_TEST,
			func(c, h, w int) float32 { return float32(c*12 + h*4 + w) }, [3]int{2, 3, 4}},
		{"legacy mean file, cropped at the uncropped index", &caffepb.TransformationParameter{MeanFile: proto.String("legacy"), CropSize: proto.Uint32(2)}, caffepb.Phase_TEST,
			func(c, h, w int) float32 { i := c*12 + h*4 + w + 1; return float32(i - i%5) }, [3]int{2, 2, 2}},
		{"shape mean file", &caffepb.TransformationParameter{MeanFile: proto.String("shape")}, caffepb.Phase_TEST,
			func(c, h, w int) float32 { i := c*12 + h*4 + w; return float32(i - i%5) }, [3]int{2, 3, 4}},
	}
	load := func(path string) (*caffepb.BlobProto, error) {
		switch path {
		case "legacy":
			return legacyMean, nil
		case "shape":
			return shapeMean, nil
		}
		return nil, fmt.Errorf("no file %s", path)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf, err := NewTransformer(c.tp, c.phase, rand.New(rand.NewSource(1)), load)
			if err != nil {
				t.Fatal(err)
			}
			oc, oh, ow, err := tf.OutShape(2, 3, 4)
			if err != nil || [3]int{oc, oh, ow} != c.shape {
				t.Fatalf("OutShape = %d %d %d, %v; want %v", oc, oh, ow, err, c.shape)
			}
			dst := make([]float32, oc*oh*ow)
			if err := tf.Transform(rec, dst); err != nil {
				t.Fatal(err)
			}
			for ci := 0; ci < oc; ci++ {
				for h := 0; h < oh; h++ {
					for w := 0; w < ow; w++ {
						if got, want := dst[(ci*oh+h)*ow+w], c.want(ci, h, w); got != want {
							t.Fatalf("out[%d][%d][%d] = %v, want %v", ci, h, w, got, want)
						}
					}
				}
			}
		})
	}
}

// TestTransformRandomCropMirror checks that in TRAIN every output is one
// window of the input (possibly mirrored), and that all windows and both
// orientations occur.
func TestTransformRandomCropMirror(t *testing.T) {
	rec := &Sample{Channels: 1, Height: 3, Width: 3, FloatData: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	tp := &caffepb.TransformationParameter{CropSize: proto.Uint32(2), Mirror: proto.Bool(true)}
	tf, err := NewTransformer(tp, caffepb.Phase_TRAIN, rand.New(rand.NewSource(3)), nil)
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]bool{}
	for ho := 0; ho < 2; ho++ {
		for wo := 0; wo < 2; wo++ {
			p := func(h, w int) float32 { return rec.FloatData[(h+ho)*3+w+wo] }
			variants[fmt.Sprint([]float32{p(0, 0), p(0, 1), p(1, 0), p(1, 1)})] = false
			variants[fmt.Sprint([]float32{p(0, 1), p(0, 0), p(1, 1), p(1, 0)})] = false
		}
	}
	dst := make([]float32, 4)
	for i := 0; i < 400; i++ {
		if err := tf.Transform(rec, dst); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprint(dst)
		if _, ok := variants[k]; !ok {
			t.Fatalf("output %s is no crop of the input", k)
		}
		variants[k] = true
	}
	for k, seen := range variants {
		if !seen {
			t.Errorf("variant %s never drawn", k)
		}
	}
}

func TestTransformErrors(t *testing.T) {
	mean := &caffepb.BlobProto{Num: proto.Int32(1), Channels: proto.Int32(1), Height: proto.Int32(2), Width: proto.Int32(2), Data: make([]float32, 4)}
	load := func(string) (*caffepb.BlobProto, error) { return mean, nil }
	rec := &Sample{Channels: 2, Height: 3, Width: 3, Data: seq(18)}
	cases := []struct {
		name string
		tp   *caffepb.TransformationParameter
		rec  *Sample
		want string
	}{
		{"mean file shape", &caffepb.TransformationParameter{MeanFile: proto.String("m")}, rec, "mean_file has shape 1×2×2"},
		{"mean value count", &caffepb.TransformationParameter{MeanValue: []float32{1, 2, 3}}, rec, "3 mean_value entries for 2 channels"},
		{"crop too large", &caffepb.TransformationParameter{CropSize: proto.Uint32(4)}, rec, "crop_size 4 is larger"},
		{"short data", nil, &Sample{Channels: 2, Height: 3, Width: 3, Data: seq(17)}, "17 data bytes"},
		{"bad image", nil, &Sample{Encoded: true, Data: []byte("not an image")}, "decoding encoded image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf, err := NewTransformer(c.tp, caffepb.Phase_TEST, nil, load)
			if err != nil {
				t.Fatal(err)
			}
			err = tf.Transform(c.rec, make([]float32, 18))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := NewTransformer(&caffepb.TransformationParameter{MeanFile: proto.String("m"), MeanValue: []float32{1}}, caffepb.Phase_TEST, nil, load); err == nil {
		t.Error("mean_file with mean_value accepted")
	}
	if _, err := NewTransformer(&caffepb.TransformationParameter{MeanFile: proto.String(filepath.Join(t.TempDir(), "none"))}, caffepb.Phase_TEST, nil, nil); err == nil {
		t.Error("missing mean file accepted")
	}
}

// TestTransformMeanFileFromDisk goes through prototxt.WriteBinary and the
// default loader, in both layouts.
func TestTransformMeanFileFromDisk(t *testing.T) {
	for _, bp := range []*caffepb.BlobProto{
		{Num: proto.Int32(1), Channels: proto.Int32(1), Height: proto.Int32(1), Width: proto.Int32(3), Data: []float32{1, 2, 3}},
		{Shape: &caffepb.BlobShape{Dim: []int64{1, 1, 1, 3}}, Data: []float32{1, 2, 3}},
		{Shape: &caffepb.BlobShape{Dim: []int64{1, 1, 3}}, Data: []float32{1, 2, 3}},
	} {
		path := filepath.Join(t.TempDir(), "mean.binaryproto")
		if err := prototxt.WriteBinary(path, bp); err != nil {
			t.Fatal(err)
		}
		tf, err := NewTransformer(&caffepb.TransformationParameter{MeanFile: proto.String(path)}, caffepb.Phase_TEST, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 3)
		if err := tf.Transform(&Sample{Channels: 1, Height: 1, Width: 3, Data: []byte{10, 10, 10}}, dst); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dst, []float32{9, 8, 7}) {
			t.Fatalf("%v: got %v", bp, dst)
		}
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTransformEncoded(t *testing.T) {
	rgb := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgb.SetNRGBA(0, 0, color.NRGBA{R: 200, G: 100, B: 10, A: 255})
	rgb.SetNRGBA(1, 0, color.NRGBA{R: 1, G: 2, B: 3, A: 255})
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix[0], gray.Pix[1] = 7, 9
	// cv2.cvtColor(BGR2GRAY) of these pixels gives 120 and 2.
	g0 := float32(120)
	cases := []struct {
		name string
		img  image.Image
		tp   *caffepb.TransformationParameter
		want []float32
	}{
		{"color is BGR", rgb, nil, []float32{10, 3, 100, 2, 200, 1}},
		{"gray stays 1 channel", gray, nil, []float32{7, 9}},
		{"force_color on gray", gray, &caffepb.TransformationParameter{ForceColor: proto.Bool(true)}, []float32{7, 9, 7, 9, 7, 9}},
		{"force_gray on color", rgb, &caffepb.TransformationParameter{ForceGray: proto.Bool(true)}, []float32{g0, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf, err := NewTransformer(c.tp, caffepb.Phase_TEST, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &Sample{Encoded: true, Data: encodePNG(t, c.img)}
			ch, h, w, err := tf.Prepare(s)
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, ch*h*w)
			if err := tf.Apply(dst); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dst, c.want) {
				t.Fatalf("got %v, want %v", dst, c.want)
			}
		})
	}
}

// TestFancyUpsample pins libjpeg's triangle filter (3/4 nearer + 1/4 next,
// with its rounding biases) on hand-computed planes.
func TestFancyUpsample(t *testing.T) {
	h2v1 := fancyUpsample([]byte{10, 20, 40}, 3, 3, 1, 6, 1, false)
	if want := []byte{10, 13, 17, 25, 35, 40}; !slices.Equal(h2v1, want) {
		t.Errorf("h2v1 = %v, want %v", h2v1, want)
	}
	h2v2 := fancyUpsample([]byte{0, 40, 80, 120}, 2, 2, 2, 4, 4, true)
	want := []byte{0, 10, 30, 40, 20, 30, 50, 60, 60, 70, 90, 100, 80, 90, 110, 120}
	if !slices.Equal(h2v2, want) {
		t.Errorf("h2v2 = %v, want %v", h2v2, want)
	}
	// An odd output width drops the last upsampled column.
	if odd := fancyUpsample([]byte{10, 20, 40}, 3, 3, 1, 5, 1, false); !slices.Equal(odd, []byte{10, 13, 17, 25, 35}) {
		t.Errorf("odd width: %v", odd)
	}
}

// BenchmarkTransformImageNet transforms one CaffeNet-sized item: a 3×256×256
// record cropped to 227 with a mean file and mirroring.
func BenchmarkTransformImageNet(b *testing.B) {
	mean := &caffepb.BlobProto{Num: proto.Int32(1), Channels: proto.Int32(3), Height: proto.Int32(256), Width: proto.Int32(256), Data: make([]float32, 3*256*256)}
	tp := &caffepb.TransformationParameter{MeanFile: proto.String("m"), CropSize: proto.Uint32(227), Mirror: proto.Bool(true)}
	tf, err := NewTransformer(tp, caffepb.Phase_TRAIN, rand.New(rand.NewSource(1)), func(string) (*caffepb.BlobProto, error) { return mean, nil })
	if err != nil {
		b.Fatal(err)
	}
	rec := &Sample{Channels: 3, Height: 256, Width: 256, Data: make([]byte, 3*256*256)}
	dst := make([]float32, 3*227*227)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tf.Transform(rec, dst); err != nil {
			b.Fatal(err)
		}
	}
}

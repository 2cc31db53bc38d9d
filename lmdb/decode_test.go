package lmdb

import (
	"bytes"
	"image/png"
	"os"
	"testing"

	"github.com/cos-project/cos/layers"
)

// TestDecodeMatchesOpenCV compares the pixels of an encoded JPEG record with
// what OpenCV (behind Caffe) decodes from the same file. Only the IDCT
// differs (Go's versus libjpeg's), so values agree within a few levels;
// without libjpeg's chroma upsampling colour pixels would be off by ~40.
func TestDecodeMatchesOpenCV(t *testing.T) {
	jpg, err := os.ReadFile("testdata/opencv420.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref  string
		mode layers.ColorMode
		max  int
	}{
		{"testdata/opencv420_decoded.png", layers.ForceColor, 3},
		{"testdata/opencv420_gray.png", layers.ForceGray, 1},
	} {
		f, err := os.ReadFile(c.ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		// The PNG holds OpenCV's BGR pixels as an RGB image written by
		// cv2.imwrite, which swaps them back: reading it gives BGR planes.
		want, wc, wh, ww := layers.ImagePixels(img, c.mode, nil)
		got, gc, gh, gw, err := layers.DecodeImage(jpg, c.mode, nil)
		if err != nil {
			t.Fatal(err)
		}
		if gc != wc || gh != wh || gw != ww {
			t.Fatalf("%s: shape %d×%d×%d, OpenCV %d×%d×%d", c.ref, gc, gh, gw, wc, wh, ww)
		}
		worst, sum := 0, 0
		for i := range got {
			d := max(int(got[i])-int(want[i]), int(want[i])-int(got[i]))
			worst = max(worst, d)
			sum += d
		}
		mean := float64(sum) / float64(len(got))
		t.Logf("%s: max |diff| %d, mean %.3f", c.ref, worst, mean)
		if worst > c.max || mean > 0.1 {
			t.Errorf("%s: max |diff| %d (allowed %d), mean %.3f (allowed 0.1)", c.ref, worst, c.max, mean)
		}
	}
}

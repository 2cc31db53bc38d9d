package lmdb

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
)

// collect reads a whole LMDB into key → sample.
func collect(t *testing.T, path string) ([]string, []layers.Sample) {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := db.Shard(0, 1)
	defer src.Close()
	var keys []string
	var out []layers.Sample
	for {
		var s layers.Sample
		err := src.Next(&s)
		if errors.Is(err, layers.ErrEndOfData) {
			return keys, out
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(s.Key))
		out = append(out, s)
	}
}

// writeIDX writes an IDX file with the given header and body, gzipped or not.
func writeIDX(t *testing.T, path string, header []uint32, body []byte, gz bool) {
	t.Helper()
	var buf bytes.Buffer
	binary.Write(&buf, binary.BigEndian, header)
	buf.Write(body)
	data := buf.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mnistFixture writes n rows×cols images (pixel j of image i = i+j) and labels i%10.
func mnistFixture(t *testing.T, dir, images, labels string, n, rows, cols int, gz bool) {
	pix := make([]byte, n*rows*cols)
	for i := 0; i < n; i++ {
		for j := 0; j < rows*cols; j++ {
			pix[i*rows*cols+j] = byte(i + j)
		}
	}
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	writeIDX(t, filepath.Join(dir, images), []uint32{mnistImageMagic, uint32(n), uint32(rows), uint32(cols)}, pix, gz)
	writeIDX(t, filepath.Join(dir, labels), []uint32{mnistLabelMagic, uint32(n)}, lab, gz)
}

func checkMNISTDB(t *testing.T, path string, n, rows, cols int) {
	t.Helper()
	keys, recs := collect(t, path)
	if len(recs) != n {
		t.Fatalf("%s: %d records, want %d", path, len(recs), n)
	}
	for i, s := range recs {
		if keys[i] != fmt.Sprintf("%08d", i) || s.Channels != 1 || s.Height != rows || s.Width != cols || s.Label != float32(i%10) {
			t.Fatalf("record %d: key %s shape %d×%d×%d label %v", i, keys[i], s.Channels, s.Height, s.Width, s.Label)
		}
		if s.Data[0] != byte(i) || s.Data[rows*cols-1] != byte(i+rows*cols-1) {
			t.Fatalf("record %d: pixels %v", i, s.Data)
		}
	}
}

func TestConvertMNIST(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		mnistFixture(t, dir, "img", "lab", 23, 4, 3, gz)
		out := filepath.Join(dir, "out", "db")
		n, err := ConvertMNIST(filepath.Join(dir, "img"), filepath.Join(dir, "lab"), out, t.Logf)
		if err != nil || n != 23 {
			t.Fatalf("n=%d err=%v", n, err)
		}
		checkMNISTDB(t, out, 23, 4, 3)
		// A second conversion into the same place is refused, not mixed in.
		if _, err := ConvertMNIST(filepath.Join(dir, "img"), filepath.Join(dir, "lab"), out, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("second conversion: %v", err)
		}
	}
}

func TestConvertMNISTDir(t *testing.T) {
	dir := t.TempDir()
	mnistFixture(t, dir, MNISTFiles.TrainImages+".gz", MNISTFiles.TrainLabels+".gz", 12, 2, 2, true)
	mnistFixture(t, dir, MNISTFiles.TestImages, MNISTFiles.TestLabels, 5, 2, 2, false)
	out := filepath.Join(dir, "data")
	if err := ConvertMNISTDir(dir, out, nil); err != nil {
		t.Fatal(err)
	}
	checkMNISTDB(t, filepath.Join(out, "mnist_train_lmdb"), 12, 2, 2)
	checkMNISTDB(t, filepath.Join(out, "mnist_test_lmdb"), 5, 2, 2)
	if err := ConvertMNISTDir(t.TempDir(), out, nil); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Fatalf("missing files: %v", err)
	}
}

func TestConvertMNISTErrors(t *testing.T) {
	dir := t.TempDir()
	mnistFixture(t, dir, "img", "lab", 5, 2, 2, false)
	mnistFixture(t, dir, "img6", "lab6", 6, 2, 2, false)
	trunc := filepath.Join(dir, "trunc")
	writeIDX(t, trunc, []uint32{mnistImageMagic, 5, 2, 2}, make([]byte, 7), false)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte{0, 0, 8}, 0o644)
	p := func(s string) string { return filepath.Join(dir, s) }
	cases := []struct {
		name, images, labels, want string
	}{
		{"swapped", p("lab"), p("img"), "bad magic number 2049, want 2051 for an MNIST image file (this is a label file)"},
		{"count mismatch", p("img"), p("lab6"), "holds 5 images but"},
		{"truncated", trunc, p("lab"), "truncated: image 1 of 5"},
		{"short header", short, p("lab"), "too short"},
		{"missing", p("none"), p("lab"), "no such file"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprint("out", i))
			_, err := ConvertMNIST(c.images, c.labels, out, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			// A failed conversion leaves nothing behind.
			if entries, _ := os.ReadDir(dir); slices.ContainsFunc(entries, func(e os.DirEntry) bool {
				return strings.Contains(e.Name(), "out")
			}) {
				t.Fatalf("failed conversion left %v", entries)
			}
		})
	}
}

func TestConvertCIFAR10(t *testing.T) {
	dir := t.TempDir()
	// Three records per batch (real batches hold 10000); record r of batch
	// b has label (b+r)%10 and pixels starting at 7*b+r.
	write := func(name string, b int) {
		var buf []byte
		for r := 0; r < 3; r++ {
			buf = append(buf, byte((b+r)%10))
			for j := 0; j < cifarImage; j++ {
				buf = append(buf, byte(7*b+r+j))
			}
		}
		os.WriteFile(filepath.Join(dir, name), buf, 0o644)
	}
	for b := 1; b <= 5; b++ {
		write(fmt.Sprintf("data_batch_%d.bin", b), b)
	}
	write("test_batch.bin", 0)
	out := filepath.Join(dir, "out")
	if err := ConvertCIFAR10(dir, out, t.Logf); err != nil {
		t.Fatal(err)
	}
	keys, recs := collect(t, filepath.Join(out, "cifar10_train_lmdb"))
	if len(recs) != 15 {
		t.Fatalf("%d train records", len(recs))
	}
	for i, s := range recs {
		b, r := i/3+1, i%3
		if keys[i] != fmt.Sprintf("%05d", i) || s.Label != float32((b+r)%10) || s.Channels != 3 || s.Height != 32 || s.Width != 32 ||
			s.Data[0] != byte(7*b+r) || s.Data[cifarImage-1] != byte(7*b+r+cifarImage-1) {
			t.Fatalf("train record %d: key %s label %v shape %d×%d×%d", i, keys[i], s.Label, s.Channels, s.Height, s.Width)
		}
	}
	keys, recs = collect(t, filepath.Join(out, "cifar10_test_lmdb"))
	if len(recs) != 3 || keys[2] != "00002" || recs[2].Label != 2 {
		t.Fatalf("test db: %v", keys)
	}
	// A batch that is not whole records.
	os.WriteFile(filepath.Join(dir, "data_batch_3.bin"), make([]byte, 100), 0o644)
	if err := ConvertCIFAR10(dir, filepath.Join(dir, "out2"), nil); err == nil || !strings.Contains(err.Error(), "data_batch_3.bin: 100 bytes") {
		t.Fatalf("bad batch: %v", err)
	}
	os.Remove(filepath.Join(dir, "test_batch.bin"))
	if err := ConvertCIFAR10(dir, filepath.Join(dir, "out3"), nil); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Fatalf("missing batch: %v", err)
	}
}

func TestResize(t *testing.T) {
	cases := []struct {
		src     []byte
		c, h, w int
		oh, ow  int
		want    []byte
	}{
		// OpenCV INTER_LINEAR: dst x maps to src (x+0.5)·scale−0.5.
		{[]byte{0, 100}, 1, 1, 2, 1, 4, []byte{0, 25, 75, 100}},
		{[]byte{0, 100, 200, 40}, 1, 2, 2, 2, 2, []byte{0, 100, 200, 40}},
		{[]byte{10, 20, 30, 40}, 1, 1, 4, 1, 2, []byte{15, 35}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2, 1, 1, []byte{3, 7}}, // per channel
		// Expected values from cv2.resize(..., INTER_LINEAR), OpenCV 4.6:
		// its fixed-point rounding gives 127/128 where exact bilinear gives 127.5.
		{[]byte{0, 255, 255, 0}, 1, 2, 2, 3, 5, []byte{0, 25, 127, 229, 255, 128, 127, 128, 127, 128, 255, 229, 127, 25, 0}},
	}
	for _, c := range cases {
		got := make([]byte, c.c*c.oh*c.ow)
		Resize(c.src, c.c, c.h, c.w, got, c.oh, c.ow)
		if !slices.Equal(got, c.want) {
			t.Errorf("Resize(%v %dx%d -> %dx%d) = %v, want %v", c.src, c.h, c.w, c.oh, c.ow, got, c.want)
		}
	}
}

func TestConvertImages(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "imgs")
	os.MkdirAll(filepath.Join(root, "sub dir"), 0o755)
	solid := func(name string, w, h int, col color.NRGBA, jpg bool) {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < w*h; i++ {
			copy(img.Pix[4*i:], []byte{col.R, col.G, col.B, col.A})
		}
		var buf bytes.Buffer
		if jpg {
			jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100})
		} else {
			png.Encode(&buf, img)
		}
		os.WriteFile(filepath.Join(root, name), buf.Bytes(), 0o644)
	}
	solid("red.png", 5, 3, color.NRGBA{200, 10, 20, 255}, false)
	solid("sub dir/blue.png", 2, 7, color.NRGBA{1, 2, 250, 255}, false)
	solid("gray.jpg", 8, 8, color.NRGBA{128, 128, 128, 255}, true)
	os.WriteFile(filepath.Join(root, "broken.png"), []byte("nope"), 0o644)
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte("red.png 3\n\nsub dir/blue.png 1\r\nbroken.png 4\ngray.jpg 2\n"), 0o644)

	t.Run("resize", func(t *testing.T) {
		out := filepath.Join(dir, "resized")
		n, err := ConvertImages(list, out, ImageOptions{Root: root + "/", ResizeHeight: 4, ResizeWidth: 6, Logf: t.Logf})
		if err != nil || n != 3 {
			t.Fatalf("n=%d err=%v", n, err)
		}
		keys, recs := collect(t, out)
		wantKeys := []string{"00000000_red.png", "00000001_sub dir/blue.png", "00000003_gray.jpg"}
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("keys %q, want %q", keys, wantKeys)
		}
		// Solid colours stay solid under bilinear resizing; planes are B, G, R.
		for i, want := range [][3]int{{20, 10, 200}, {250, 2, 1}, {128, 128, 128}} {
			s := recs[i]
			if s.Channels != 3 || s.Height != 4 || s.Width != 6 || len(s.Data) != 72 {
				t.Fatalf("%s: shape %d×%d×%d", keys[i], s.Channels, s.Height, s.Width)
			}
			for ch := 0; ch < 3; ch++ {
				for _, v := range s.Data[ch*24 : (ch+1)*24] {
					if math.Abs(float64(v)-float64(want[ch])) > 2 {
						t.Fatalf("%s channel %d: %d, want %d", keys[i], ch, v, want[ch])
					}
				}
			}
		}
		if recs[0].Label != 3 || recs[1].Label != 1 || recs[2].Label != 2 {
			t.Fatalf("labels %v %v %v", recs[0].Label, recs[1].Label, recs[2].Label)
		}
	})
	t.Run("gray shuffled", func(t *testing.T) {
		var orders []string
		for i, seed := range []int64{1, 1, 2, 3, 4} {
			out := filepath.Join(dir, fmt.Sprint("gray", i))
			if _, err := ConvertImages(list, out, ImageOptions{Root: root, Gray: true, Shuffle: true, Seed: seed}); err != nil {
				t.Fatal(err)
			}
			keys, recs := collect(t, out)
			var names []string
			for j, k := range keys {
				names = append(names, k[9:])
				// Keys number list lines, counting the unreadable one too.
				if recs[j].Channels != 1 || k[8] != '_' || (j > 0 && k[:8] <= keys[j-1][:8]) {
					t.Fatalf("%s: %d channels", k, recs[j].Channels)
				}
			}
			orders = append(orders, strings.Join(names, ","))
		}
		if orders[0] != orders[1] {
			t.Fatalf("same seed, different orders: %v", orders)
		}
		if orders[0] == orders[2] && orders[0] == orders[3] && orders[0] == orders[4] {
			t.Fatalf("seeds do not change the order: %v", orders)
		}
	})
	t.Run("encoded", func(t *testing.T) {
		out := filepath.Join(dir, "encoded")
		if _, err := ConvertImages(list, out, ImageOptions{Root: root, Encoded: true}); err != nil {
			t.Fatal(err)
		}
		_, recs := collect(t, out)
		orig, _ := os.ReadFile(filepath.Join(root, "red.png"))
		if !recs[0].Encoded || !bytes.Equal(recs[0].Data, orig) {
			t.Fatal("encoded record does not hold the file's bytes")
		}
		// With a resize the image is re-encoded and decodes to the new size.
		out = filepath.Join(dir, "encoded-resized")
		if _, err := ConvertImages(list, out, ImageOptions{Root: root, Encoded: true, ResizeHeight: 2, ResizeWidth: 3}); err != nil {
			t.Fatal(err)
		}
		_, recs = collect(t, out)
		for i, s := range recs {
			// red.png and blue.png stay PNGs, gray.jpg a JPEG.
			if isJPEG := bytes.HasPrefix(s.Data, []byte{0xff, 0xd8}); isJPEG != (i == 2) {
				t.Fatalf("record %d: JPEG %v", i, isJPEG)
			}
			pix, c, h, w, err := layers.DecodeImage(s.Data, layers.ColorNative, nil)
			if err != nil || c != 3 || h != 2 || w != 3 || !s.Encoded {
				t.Fatalf("decoded %d×%d×%d %v", c, h, w, err)
			}
			_ = pix
		}
	})
	t.Run("encode_type", func(t *testing.T) {
		out := filepath.Join(dir, "as-jpg")
		if _, err := ConvertImages(list, out, ImageOptions{Root: root, EncodeType: "jpg"}); err != nil {
			t.Fatal(err)
		}
		_, recs := collect(t, out)
		gray, _ := os.ReadFile(filepath.Join(root, "gray.jpg"))
		for i, s := range recs {
			if !s.Encoded || !bytes.HasPrefix(s.Data, []byte{0xff, 0xd8}) {
				t.Fatalf("record %d is not a JPEG", i)
			}
		}
		if !bytes.Equal(recs[2].Data, gray) {
			t.Fatal("a JPEG file was re-encoded although it is stored as JPEG")
		}
		if _, err := ConvertImages(list, filepath.Join(dir, "as-bmp"), ImageOptions{Root: root, EncodeType: "bmp"}); err == nil {
			t.Fatal("encode_type bmp accepted")
		}
	})
	t.Run("errors", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.txt")
		os.WriteFile(bad, []byte("red.png 1\nblue.png x\n"), 0o644)
		if _, err := ConvertImages(bad, filepath.Join(dir, "e1"), ImageOptions{Root: root}); err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
			t.Fatalf("bad label: %v", err)
		}
		none := filepath.Join(dir, "none.txt")
		os.WriteFile(none, []byte("broken.png 1\n"), 0o644)
		if _, err := ConvertImages(none, filepath.Join(dir, "e2"), ImageOptions{Root: root}); err == nil || !strings.Contains(err.Error(), "none of the 1") {
			t.Fatalf("nothing readable: %v", err)
		}
		if _, err := ConvertImages(list, filepath.Join(dir, "e3"), ImageOptions{Root: root, CheckSize: true}); err == nil || !strings.Contains(err.Error(), "differs from the first") {
			t.Fatalf("check_size: %v", err)
		}
	})
}

func TestComputeMean(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Three 2×1×2 records: values i*10 + j.
	for i := 0; i < 3; i++ {
		d := &caffepbDatum{c: 2, h: 1, w: 2}
		for j := 0; j < 4; j++ {
			d.data = append(d.data, byte(i*10+j))
		}
		if err := w.Put(fmt.Sprintf("%08d", i), d.proto()); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	bp, channel, err := ComputeMean(path)
	if err != nil {
		t.Fatal(err)
	}
	if bp.GetNum() != 1 || bp.GetChannels() != 2 || bp.GetHeight() != 1 || bp.GetWidth() != 2 || bp.Shape != nil {
		t.Fatalf("layout %v", bp)
	}
	if !slices.Equal(bp.Data, []float32{10, 11, 12, 13}) || !slices.Equal(channel, []float64{10.5, 12.5}) {
		t.Fatalf("mean %v channels %v", bp.Data, channel)
	}
	// The file round-trips and the transformer subtracts it.
	file := filepath.Join(t.TempDir(), "mean.binaryproto")
	if err := prototxt.WriteBinary(file, bp); err != nil {
		t.Fatal(err)
	}
	back, err := prototxt.LoadBlobProto(file)
	if err != nil || !slices.Equal(back.Data, bp.Data) {
		t.Fatalf("reloaded %v, %v", back, err)
	}
	if _, _, err := ComputeMean(t.TempDir()); err == nil {
		t.Fatal("mean of a non-LMDB")
	}
}

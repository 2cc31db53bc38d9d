package output

import (
	"bufio"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestAppendJSONFloat(t *testing.T) {
	cases := []struct {
		v    float32
		want string
	}{
		{7, "7.0"}, {0, "0.0"}, {-3, "-3.0"}, {0.98, "0.98"}, {1e-7, "1e-07"}, {0.5, "0.5"},
	}
	for _, c := range cases {
		if got := string(AppendJSONFloat(nil, c.v)); got != c.want {
			t.Errorf("AppendJSONFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestJSONPartRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewFeatureWriter(dir, 3, FormatJSON, []string{"accuracy", "loss", "label"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("00000042", [][]float32{{0.98}, {0.05}, {7}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("00000043", [][]float32{{1}, {0.5, 0.25}, {1}}); err != nil {
		t.Fatal(err)
	}
	// Before Commit nothing may stand under the final name.
	if _, err := os.Stat(filepath.Join(dir, "part-00003")); !os.IsNotExist(err) {
		t.Fatalf("part file visible before commit: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "part-00003"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want0 := `{"SampleID":"00000042","accuracy":[0.98],"loss":[0.05],"label":[7.0]}`
	if len(lines) != 2 || lines[0] != want0 {
		t.Fatalf("lines = %q, want first %q", lines, want0)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &row); err != nil {
		t.Fatalf("line 2 not JSON: %v", err)
	}
	if row["SampleID"] != "00000043" || len(row["loss"].([]any)) != 2 {
		t.Fatalf("row = %v", row)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{FormatJSON, FormatParquet} {
		w, err := NewFeatureWriter(dir, 0, format, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write("k", [][]float32{{1}}); err != nil {
			t.Fatal(err)
		}
		w.Abort()
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("abort left %d files", len(ents))
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewFeatureWriter(dir, 0, "csv", []string{"a"}); err == nil || !strings.Contains(err.Error(), "csv") {
		t.Errorf("unknown format: err = %v", err)
	}
	if _, err := NewFeatureWriter(dir, 0, FormatJSON, []string{"a", "a"}); err == nil {
		t.Error("duplicate column accepted")
	}
	w, err := NewFeatureWriter(dir, 0, FormatJSON, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write("k", [][]float32{{1}}); err == nil {
		t.Error("row with a missing column accepted")
	}
}

func TestParquetPart(t *testing.T) {
	dir := t.TempDir()
	w, err := NewFeatureWriter(dir, 1, FormatParquet, []string{"accuracy", "label"})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"00000000", "00000001", "00000002"}
	for i, id := range ids {
		if err := w.Write(id, [][]float32{{float32(i) / 2}, {float32(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "part-00001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != int64(len(ids)) {
		t.Fatalf("rows = %d, want %d", pf.NumRows(), len(ids))
	}
	type row struct {
		SampleID string    `parquet:"SampleID"`
		Accuracy []float32 `parquet:"accuracy"`
		Label    []float32 `parquet:"label"`
	}
	rows, err := parquet.Read[row](f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.SampleID != ids[i] || len(r.Label) != 1 || r.Label[0] != float32(i) || r.Accuracy[0] != float32(i)/2 {
			t.Errorf("row %d = %+v", i, r)
		}
	}
}

func TestTestResultAndSuccess(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTestResult(dir, []string{"accuracy", "loss"}, [][]float32{{0.99}, {0.03, 0.5}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TestResultFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "accuracy: 0.99\nloss: 0.03,0.5\n"; string(b) != want {
		t.Fatalf("test result = %q, want %q", b, want)
	}
	if _, err := os.Stat(filepath.Join(dir, SuccessMarker)); err != nil {
		t.Fatal(err)
	}
	if err := ClearParts(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SuccessMarker)); !os.IsNotExist(err) {
		t.Fatal("ClearParts kept _SUCCESS")
	}
}

func TestCurvesFiles(t *testing.T) {
	var c Curves
	for it := 0; it <= 300; it += 100 {
		c.Add(SeriesLoss, it, 2/float64(it+1))
		c.Add(SeriesLR, it, 0.01)
	}
	c.Add("test_accuracy", 0, 0.1)
	c.Add("test_accuracy", 300, 0.9)
	if c.Len(SeriesLoss) != 4 || c.Len("test_accuracy") != 2 {
		t.Fatalf("lens %d %d", c.Len(SeriesLoss), c.Len("test_accuracy"))
	}
	base := filepath.Join(t.TempDir(), "lenet_curves")
	if err := c.WriteFiles(base); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile(base + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 1+4+4+2 || lines[1] != "0,train_loss,2" {
		t.Fatalf("csv = %q", lines)
	}
	f, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("png: %v", err)
	}
	if img.Bounds().Dx() < 100 {
		t.Fatalf("png too small: %v", img.Bounds())
	}
}

// An empty or all-zero history (display: 0, or a loss of exactly 0) must
// still draw: a log axis cannot, so the panel falls back to linear.
func TestCurvesWithoutPositiveLoss(t *testing.T) {
	flat := func() *Curves {
		var c Curves
		for it := 5; it <= 20; it += 5 {
			c.Add(SeriesLoss, it, 0.693147)
			c.Add("test_loss", it, 0.693147)
		}
		return &c
	}()
	for _, c := range []*Curves{{}, func() *Curves { var c Curves; c.Add(SeriesLoss, 10, 0); c.Add(SeriesLR, 10, 0.1); return &c }(), flat} {
		base := filepath.Join(t.TempDir(), "c")
		if err := c.WriteFiles(base); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(base + ".png"); err != nil {
			t.Fatal(err)
		}
	}
}

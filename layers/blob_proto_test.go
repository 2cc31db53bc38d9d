package layers

import (
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

func TestBlobProtoRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, shape := range [][]int{{2, 3, 4, 5}, {10}, {3, 7}, {}} {
		for _, withDiff := range []bool{false, true} {
			b := randBlob(rng, "b", shape...)
			FillGaussian(rng, 1, b.Diff)
			// Through the wire format, as a .caffemodel would carry it.
			raw, err := proto.Marshal(b.ToProto(withDiff))
			if err != nil {
				t.Fatal(err)
			}
			p := &caffepb.BlobProto{}
			if err := proto.Unmarshal(raw, p); err != nil {
				t.Fatal(err)
			}
			if p.Num != nil || p.Channels != nil {
				t.Errorf("ToProto wrote the legacy shape fields")
			}
			c := &Blob{Name: "c"}
			if err := c.FromProto(p, true); err != nil {
				t.Fatal(err)
			}
			if !c.ShapeEquals(shape) {
				t.Fatalf("shape %v, want %v", c.Shape(), shape)
			}
			for i := range b.Data {
				if c.Data[i] != b.Data[i] {
					t.Fatalf("data[%d] = %v, want %v", i, c.Data[i], b.Data[i])
				}
				want := float32(0)
				if withDiff {
					want = b.Diff[i]
				}
				if c.Diff[i] != want {
					t.Fatalf("diff[%d] = %v, want %v (writeDiff %v)", i, c.Diff[i], want, withDiff)
				}
			}
		}
	}
}

func TestBlobProtoLegacy(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	data := make([]float32, 2*3*1*2)
	dd := make([]float64, len(data))
	for i := range data {
		data[i] = float32(i) + 0.5
		dd[i] = float64(i) + 0.25
	}
	p := &caffepb.BlobProto{Num: n(2), Channels: n(3), Height: n(1), Width: n(2), Data: data}
	b := &Blob{}
	if err := b.FromProto(p, true); err != nil {
		t.Fatal(err)
	}
	if !b.ShapeEquals([]int{2, 3, 1, 2}) {
		t.Fatalf("legacy shape read as %v", b.Shape())
	}
	if b.Data[5] != 5.5 {
		t.Errorf("data[5] = %v", b.Data[5])
	}

	// double_data / double_diff instead of data / diff.
	p = &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{12}}, DoubleData: dd, DoubleDiff: dd}
	if err := b.FromProto(p, true); err != nil {
		t.Fatal(err)
	}
	if b.Data[3] != 3.25 || b.Diff[11] != 11.25 {
		t.Errorf("double values read as %v, %v", b.Data[3], b.Diff[11])
	}

	// Old parameter blobs were padded at the front: an InnerProduct weight
	// [10, 20] was stored 1x1x10x20 and must load without reshape.
	w := NewBlob(10, 20)
	p = &caffepb.BlobProto{Num: n(1), Channels: n(1), Height: n(10), Width: n(20), Data: make([]float32, 200)}
	p.Data[199] = 4
	if err := w.FromProto(p, false); err != nil {
		t.Fatalf("legacy right-aligned shape rejected: %v", err)
	}
	if w.Data[199] != 4 {
		t.Errorf("data not copied")
	}
	bias := NewBlob(10)
	if err := bias.FromProto(&caffepb.BlobProto{Num: n(1), Channels: n(1), Height: n(1), Width: n(10), Data: make([]float32, 10)}, false); err != nil {
		t.Fatalf("legacy bias rejected: %v", err)
	}
	// A legacy shape that differs is still an error.
	wantErr(t, w.FromProto(&caffepb.BlobProto{Num: n(1), Channels: n(2), Height: n(10), Width: n(10), Data: make([]float32, 200)}, false),
		"different sizes")
}

func TestBlobProtoErrors(t *testing.T) {
	b := NewBlob(2, 3)
	b.Name = "conv1.weight"
	wantErr(t, b.FromProto(&caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{3, 2}}, Data: make([]float32, 6)}, false),
		"conv1.weight", "different sizes", "[3 2]", "[2 3]")
	wantErr(t, b.FromProto(&caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{2, 3}}, Data: make([]float32, 5)}, false),
		"5 data values", "6 expected")
	wantErr(t, b.FromProto(&caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{2, -3}}}, true), "negative")
	wantErr(t, b.FromProto(&caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{1 << 20, 1 << 20}}}, true), "2^31")
	wantErr(t, b.FromProto(&caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: []int64{2, 3}}, Data: make([]float32, 6), Diff: make([]float32, 2)}, false),
		"2 diff values")
}

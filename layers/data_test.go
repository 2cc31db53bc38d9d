package layers

import (
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// memSource is an in-memory Source over fixed records, copying into the
// caller's Sample without allocating once its slices have grown.
type memSource struct {
	recs   []Sample
	pos    int
	closed bool
}

func (m *memSource) Next(s *Sample) error {
	if m.closed {
		return errors.New("memSource: closed")
	}
	if m.pos >= len(m.recs) {
		return ErrEndOfData
	}
	r := &m.recs[m.pos]
	m.pos++
	s.Key = append(s.Key[:0], r.Key...)
	s.Data = append(s.Data[:0], r.Data...)
	s.FloatData = append(s.FloatData[:0], r.FloatData...)
	s.Channels, s.Height, s.Width, s.Label, s.Encoded = r.Channels, r.Height, r.Width, r.Label, r.Encoded
	return nil
}
func (m *memSource) Rewind() error { m.pos = 0; return nil }
func (m *memSource) Len() int      { return len(m.recs) }
func (m *memSource) Name() string  { return "mem" }
func (m *memSource) Close() error  { m.closed = true; return nil }

// records returns n 1×2×2 records; record i has pixels i..i+3 and label i.
func records(n int) []Sample {
	recs := make([]Sample, n)
	for i := range recs {
		recs[i] = Sample{Key: []byte(fmt.Sprintf("%08d", i)), Channels: 1, Height: 2, Width: 2,
			Data: []byte{byte(i), byte(i + 1), byte(i + 2), byte(i + 3)}, Label: float32(i)}
	}
	return recs
}

func dataParam(batch int, tp *caffepb.TransformationParameter) *caffepb.LayerParameter {
	return &caffepb.LayerParameter{Name: proto.String("mnist"), Type: proto.String("Data"),
		DataParam:      &caffepb.DataParameter{Source: proto.String("mem"), BatchSize: proto.Uint32(uint32(batch))},
		TransformParam: tp}
}

// setupData builds a registered layer over src with tops data and label.
func setupData(t *testing.T, lp *caffepb.LayerParameter, src Source) (*DataLayer, []*Blob) {
	t.Helper()
	ctor, err := Lookup(lp.GetType())
	if err != nil {
		t.Fatal(err)
	}
	ctx := &Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(1)),
		Sources: func(*caffepb.LayerParameter, caffepb.Phase) (Source, error) { return src, nil }}
	l, err := ctor(lp, ctx)
	if err != nil {
		t.Fatal(err)
	}
	top := []*Blob{{Name: "data"}, {Name: "label"}}
	if err := l.Setup(nil, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.(*DataLayer).Close() })
	return l.(*DataLayer), top
}

func TestDataWrapAroundAndKeys(t *testing.T) {
	cases := []struct {
		n, batch int
		// per batch: labels, ValidInBatch, Exhausted
		labels [][]int
		fresh  []int
		exh    []bool
	}{
		{5, 2, [][]int{{0, 1}, {2, 3}, {4, 0}, {1, 2}, {3, 4}}, []int{2, 2, 1, 0, 0}, []bool{false, false, true, true, true}},
		{4, 2, [][]int{{0, 1}, {2, 3}, {0, 1}}, []int{2, 2, 0}, []bool{false, true, true}},
		{2, 3, [][]int{{0, 1, 0}, {1, 0, 1}}, []int{2, 0}, []bool{true, true}},
		{1, 1, [][]int{{0}, {0}}, []int{1, 0}, []bool{true, true}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d,batch=%d", c.n, c.batch), func(t *testing.T) {
			l, top := setupData(t, dataParam(c.batch, nil), &memSource{recs: records(c.n)})
			if !top[0].ShapeEquals([]int{c.batch, 1, 2, 2}) || !top[1].ShapeEquals([]int{c.batch}) {
				t.Fatalf("tops %v %v", top[0].Shape(), top[1].Shape())
			}
			for b, want := range c.labels {
				if err := l.Forward(nil, top); err != nil {
					t.Fatal(err)
				}
				var labels []int
				var keys []string
				for i, v := range top[1].Data {
					labels = append(labels, int(v))
					keys = append(keys, fmt.Sprintf("%08d", int(v)))
					// The pixels must belong to the record with that label.
					if px := top[0].Data[i*4 : i*4+4]; px[0] != v || px[3] != v+3 {
						t.Fatalf("batch %d item %d: pixels %v with label %v", b, i, px, v)
					}
				}
				if !slices.Equal(labels, want) {
					t.Fatalf("batch %d: labels %v, want %v", b, labels, want)
				}
				if !slices.Equal(l.Keys(), keys) {
					t.Fatalf("batch %d: keys %v, want %v", b, l.Keys(), keys)
				}
				if l.ValidInBatch() != c.fresh[b] || l.Exhausted() != c.exh[b] {
					t.Fatalf("batch %d: ValidInBatch %d Exhausted %v, want %d %v", b, l.ValidInBatch(), l.Exhausted(), c.fresh[b], c.exh[b])
				}
			}
		})
	}
}

func TestDataTransformApplied(t *testing.T) {
	tp := &caffepb.TransformationParameter{Scale: proto.Float32(0.5), MeanValue: []float32{1}, CropSize: proto.Uint32(1)}
	l, top := setupData(t, dataParam(2, tp), &memSource{recs: records(3)})
	if !top[0].ShapeEquals([]int{2, 1, 1, 1}) {
		t.Fatalf("top shape %v", top[0].Shape())
	}
	for i := 0; i < 5; i++ {
		if err := l.Forward(nil, top); err != nil {
			t.Fatal(err)
		}
		for j, v := range top[0].Data {
			// The random 1×1 crop is one of the record's four pixels.
			p := v/0.5 + 1 - top[1].Data[j]
			if p != 0 && p != 1 && p != 2 && p != 3 {
				t.Fatalf("item %d: %v is no transformed pixel of record %v", j, v, top[1].Data[j])
			}
		}
	}
}

func TestDataSizeMismatch(t *testing.T) {
	recs := records(4)
	recs[2].Channels, recs[2].Height, recs[2].Width = 1, 1, 4
	l, top := setupData(t, dataParam(3, nil), &memSource{recs: recs})
	err := l.Forward(nil, top)
	for _, want := range []string{`layer "mnist"`, `"00000002"`, "1×1×4", "1×2×2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not name %s", err, want)
		}
	}
	// The error sticks.
	if err2 := l.Forward(nil, top); err2 == nil {
		t.Fatal("Forward after a failure succeeded")
	}
}

func TestDataSetupErrors(t *testing.T) {
	ctxWith := func(src Source, err error) *Context {
		return &Context{Phase: caffepb.Phase_TEST,
			Sources: func(*caffepb.LayerParameter, caffepb.Phase) (Source, error) { return src, err }}
	}
	mem := func(batch, c, h, w uint32, source string) *caffepb.LayerParameter {
		return &caffepb.LayerParameter{Name: proto.String("m"), Type: proto.String("MemoryData"),
			MemoryDataParam: &caffepb.MemoryDataParameter{BatchSize: proto.Uint32(batch), Channels: proto.Uint32(c),
				Height: proto.Uint32(h), Width: proto.Uint32(w), Source: proto.String(source)}}
	}
	cases := []struct {
		name string
		lp   *caffepb.LayerParameter
		ctx  *Context
		want string
	}{
		{"zero batch", dataParam(0, nil), ctxWith(&memSource{recs: records(1)}, nil), "batch_size must be positive"},
		{"empty source", dataParam(2, nil), ctxWith(&memSource{}, nil), "holds no records"},
		{"open error", dataParam(2, nil), ctxWith(nil, errors.New("boom")), "boom"},
		{"no opener", dataParam(2, nil), &Context{}, "no data source opener"},
		{"memory without source", mem(2, 1, 2, 2, ""), ctxWith(&memSource{recs: records(1)}, nil), "memory_data_param.source is not set"},
		{"memory shape", mem(2, 1, 3, 3, "file:x"), ctxWith(&memSource{recs: records(1)}, nil), "but memory_data_param's is 1×3×3"},
		{"memory zero dims", mem(2, 0, 3, 3, "file:x"), ctxWith(&memSource{recs: records(1)}, nil), "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctor, _ := Lookup(c.lp.GetType())
			l, err := ctor(c.lp, c.ctx)
			if err == nil {
				err = l.Setup(nil, []*Blob{{}, {}})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestMemoryDataReads(t *testing.T) {
	lp := &caffepb.LayerParameter{Name: proto.String("data"), Type: proto.String("MemoryData"),
		SourceClass: proto.String("com.yahoo.ml.caffe.LMDB"),
		MemoryDataParam: &caffepb.MemoryDataParameter{BatchSize: proto.Uint32(3), Channels: proto.Uint32(1),
			Height: proto.Uint32(2), Width: proto.Uint32(2), Source: proto.String("file:/x")},
		TransformParam: &caffepb.TransformationParameter{Scale: proto.Float32(2)}}
	recs := records(4)
	recs[3].Width = 1 // the mismatch shows up in the second batch
	recs[3].Data = recs[3].Data[:2]
	l, top := setupData(t, lp, &memSource{recs: recs})
	if l.Type() != "MemoryData" || !top[0].ShapeEquals([]int{3, 1, 2, 2}) {
		t.Fatalf("%s %v", l.Type(), top[0].Shape())
	}
	if err := l.Forward(nil, top); err != nil {
		t.Fatal(err)
	}
	if top[0].Data[4] != 2 || top[1].Data[2] != 2 {
		t.Fatalf("data %v labels %v", top[0].Data, top[1].Data)
	}
	if err := l.Forward(nil, top); err == nil || !strings.Contains(err.Error(), "memory_data_param's is 1×2×2") {
		t.Fatalf("mismatch error: %v", err)
	}
}

func TestDataForwardAllocatesNothing(t *testing.T) {
	tp := &caffepb.TransformationParameter{Scale: proto.Float32(0.00390625), CropSize: proto.Uint32(1), Mirror: proto.Bool(true)}
	l, top := setupData(t, dataParam(4, tp), &memSource{recs: records(7)})
	for i := 0; i < 5; i++ { // warm up: every buffer has seen every record
		if err := l.Forward(nil, top); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(50, func() {
		if err := l.Forward(nil, top); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Forward allocates %v times per batch", n)
	}
}

func TestDataClose(t *testing.T) {
	src := &memSource{recs: records(3)}
	l, top := setupData(t, dataParam(2, nil), src)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !src.closed {
		t.Fatal("source not closed")
	}
	if err := l.Forward(nil, top); err == nil {
		t.Fatal("Forward after Close succeeded")
	}
}

// TestDataCropAllowsVaryingSizes follows Caffe: with crop_size, records
// only need the crop window, so their sizes may differ (not their channels).
func TestDataCropAllowsVaryingSizes(t *testing.T) {
	recs := records(3)
	recs[1].Height, recs[1].Width, recs[1].Data = 1, 4, []byte{1, 2, 3, 4}
	tp := &caffepb.TransformationParameter{CropSize: proto.Uint32(1)}
	l, top := setupData(t, dataParam(3, tp), &memSource{recs: recs})
	if err := l.Forward(nil, top); err != nil {
		t.Fatal(err)
	}
	recs = records(2)
	recs[1].Channels, recs[1].Height, recs[1].Width = 2, 1, 2
	l, top = setupData(t, dataParam(2, tp), &memSource{recs: recs})
	if err := l.Forward(nil, top); err == nil || !strings.Contains(err.Error(), "2×1×2") {
		t.Fatalf("channel mismatch: %v", err)
	}
}

// TestDataPrefetchOneP: with one P, the next batch is filled inside every
// Forward (both buffers are full when it returns), not whenever the
// scheduler happens to preempt the caller.
func TestDataPrefetchOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	l, top := setupData(t, dataParam(2, nil), &memSource{recs: records(5)})
	for i := 0; i < 6; i++ {
		if err := l.Forward(nil, top); err != nil {
			t.Fatal(err)
		}
		if n := len(l.full); n != cap(l.full) {
			t.Fatalf("Forward %d: %d of %d batches ready when it returned", i, n, cap(l.full))
		}
	}
}

package lmdb

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// sampleEqualsDatum reports how s differs from d, or "" when they agree.
func sampleEqualsDatum(s *layers.Sample, d *caffepb.Datum) string {
	switch {
	case s.Channels != int(d.GetChannels()), s.Height != int(d.GetHeight()), s.Width != int(d.GetWidth()):
		return "shape"
	case s.Label != float32(d.GetLabel()):
		return "label"
	case s.Encoded != d.GetEncoded():
		return "encoded"
	case !slices.Equal(s.Data, d.GetData()):
		return "data"
	case len(s.FloatData) != len(d.GetFloatData()):
		return "float_data length"
	}
	for i, f := range d.GetFloatData() {
		if math.Float32bits(f) != math.Float32bits(s.FloatData[i]) {
			return "float_data"
		}
	}
	return ""
}

func randomDatum(r *rand.Rand) *caffepb.Datum {
	d := &caffepb.Datum{}
	if r.Intn(4) > 0 {
		d.Channels = proto.Int32(int32(r.Intn(4)))
		d.Height = proto.Int32(int32(r.Intn(40)))
		d.Width = proto.Int32(int32(r.Intn(40)))
	}
	if r.Intn(3) > 0 {
		d.Label = proto.Int32(int32(r.Intn(2000) - 1000))
	}
	switch r.Intn(3) {
	case 0:
		d.Data = make([]byte, r.Intn(3000))
		r.Read(d.Data)
	case 1:
		d.FloatData = make([]float32, r.Intn(500))
		for i := range d.FloatData {
			d.FloatData[i] = float32(r.NormFloat64())
		}
	}
	if r.Intn(3) == 0 {
		d.Encoded = proto.Bool(r.Intn(2) == 0)
	}
	return d
}

func TestDecodeDatumMatchesProto(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	var s layers.Sample
	for i := 0; i < 500; i++ {
		d := randomDatum(r)
		raw, err := proto.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		// Reuse s across records: stale values from the previous one must not leak.
		if err := DecodeDatum(raw, &s); err != nil {
			t.Fatalf("datum %d: %v", i, err)
		}
		if diff := sampleEqualsDatum(&s, d); diff != "" {
			t.Fatalf("datum %d: %s differs from proto.Unmarshal", i, diff)
		}
	}
}

// TestDecodeDatumWireVariants covers encodings proto.Marshal does not
// produce for a Datum but other writers may: packed float_data, repeated
// singular fields, unknown fields, negative labels.
func TestDecodeDatumWireVariants(t *testing.T) {
	packed := protowire.AppendTag(nil, fieldFloatData, protowire.BytesType)
	packed = protowire.AppendVarint(packed, 8)
	packed = protowire.AppendFixed32(packed, math.Float32bits(1.5))
	packed = protowire.AppendFixed32(packed, math.Float32bits(-2))
	unpacked := protowire.AppendTag(nil, fieldFloatData, protowire.Fixed32Type)
	unpacked = protowire.AppendFixed32(unpacked, math.Float32bits(3))
	data := func(b string) []byte {
		x := protowire.AppendTag(nil, fieldData, protowire.BytesType)
		return protowire.AppendBytes(x, []byte(b))
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	unknown := protowire.AppendString(protowire.AppendTag(nil, 99, protowire.BytesType), "x")
	group := protowire.AppendTag(nil, 50, protowire.StartGroupType)
	group = append(group, varint(1, 7)...)
	group = protowire.AppendTag(group, 50, protowire.EndGroupType)
	wrongType := protowire.AppendFixed32(protowire.AppendTag(nil, fieldLabel, protowire.Fixed32Type), 9)
	cat := func(p ...[]byte) []byte { return slices.Concat(p...) }
	cases := []struct {
		name string
		raw  []byte
	}{
		{"packed floats", packed},
		{"packed then unpacked", cat(packed, unpacked, packed)},
		{"data twice", cat(data("abc"), data("de"))},
		{"negative label", varint(fieldLabel, uint64(math.MaxUint64-4))},
		{"label overflow truncates", varint(fieldLabel, 1<<33+5)},
		{"unknown fields", cat(unknown, varint(fieldChannels, 3), group, unknown)},
		{"wrong wire type is unknown", cat(varint(fieldLabel, 4), wrongType)},
		{"encoded nonzero", varint(fieldEncoded, 2)},
		{"empty", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d caffepb.Datum
			if err := proto.Unmarshal(c.raw, &d); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			s := layers.Sample{Data: []byte("stale"), FloatData: []float32{9}, Label: 7, Channels: 5}
			if err := DecodeDatum(c.raw, &s); err != nil {
				t.Fatal(err)
			}
			if diff := sampleEqualsDatum(&s, &d); diff != "" {
				t.Fatalf("%s differs from proto.Unmarshal", diff)
			}
		})
	}
}

func TestDecodeDatumErrors(t *testing.T) {
	cases := map[string][]byte{
		"truncated varint":  {0x08, 0x80},
		"truncated bytes":   {0x22, 0x05, 1, 2},
		"bad packed length": {0x32, 0x03, 1, 2, 3},
		"field zero":        {0x00, 0x01},
		"bad wire type":     {0x0f},
	}
	for name, raw := range cases {
		var s layers.Sample
		if err := DecodeDatum(raw, &s); err == nil {
			t.Errorf("%s: no error", name)
		}
		if err := proto.Unmarshal(raw, &caffepb.Datum{}); err == nil && name != "bad packed length" {
			t.Errorf("%s: proto.Unmarshal accepts it; the case tests nothing", name)
		}
	}
}

func TestDecodeDatumAllocs(t *testing.T) {
	d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(28), Width: proto.Int32(28),
		Data: make([]byte, 784), Label: proto.Int32(3)}
	raw, _ := proto.Marshal(d)
	var s layers.Sample
	_ = DecodeDatum(raw, &s)
	if n := testing.AllocsPerRun(100, func() { _ = DecodeDatum(raw, &s) }); n != 0 {
		t.Fatalf("DecodeDatum allocates %v times per record once warm", n)
	}
}

func FuzzDecodeDatum(f *testing.F) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 8; i++ {
		raw, _ := proto.Marshal(randomDatum(r))
		f.Add(raw)
	}
	f.Add([]byte{0x32, 0x04, 0, 0, 0x80, 0x3f})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s layers.Sample
		err := DecodeDatum(raw, &s)
		var d caffepb.Datum
		if perr := proto.Unmarshal(raw, &d); perr == nil {
			if err != nil {
				t.Fatalf("proto.Unmarshal accepts what DecodeDatum rejects: %v", err)
			}
			if diff := sampleEqualsDatum(&s, &d); diff != "" {
				t.Fatalf("%s differs from proto.Unmarshal", diff)
			}
		}
	})
}

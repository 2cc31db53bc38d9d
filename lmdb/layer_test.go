package lmdb

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// TestDataLayerReadsLMDB runs the registered Data and MemoryData layers
// over LMDBs written by Writer, through OpenSource, on two shards.
func TestDataLayerReadsLMDB(t *testing.T) {
	path := writeTestDB(t, 10)
	lps := []*caffepb.LayerParameter{
		{Name: proto.String("mnist"), Type: proto.String("Data"),
			DataParam:      &caffepb.DataParameter{Source: proto.String(path), BatchSize: proto.Uint32(3), Backend: caffepb.DataParameter_LMDB.Enum()},
			TransformParam: &caffepb.TransformationParameter{Scale: proto.Float32(0.5)}},
		{Name: proto.String("data"), Type: proto.String("MemoryData"), SourceClass: proto.String(LMDBSourceClass),
			MemoryDataParam: &caffepb.MemoryDataParameter{Source: proto.String("file:" + path), BatchSize: proto.Uint32(3),
				Channels: proto.Uint32(1), Height: proto.Uint32(1), Width: proto.Uint32(1)},
			TransformParam: &caffepb.TransformationParameter{Scale: proto.Float32(0.5)}},
	}
	for _, lp := range lps {
		for _, persistent := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s persistent=%v", lp.GetType(), persistent), func(t *testing.T) {
				ctor, err := layers.Lookup(lp.GetType())
				if err != nil {
					t.Fatal(err)
				}
				ctx := &layers.Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(1)),
					Sources: Opener(1, 2, Persistent(persistent))} // records 5..9
				l, err := ctor(lp, ctx)
				if err != nil {
					t.Fatal(err)
				}
				top := []*layers.Blob{{}, {}}
				if err := l.Setup(nil, top); err != nil {
					t.Fatal(err)
				}
				defer l.(interface{ Close() error }).Close()
				want := [][]float32{{5, 6, 7}, {8, 9, 5}, {6, 7, 8}, {9, 5, 6}}
				for b, labels := range want {
					if err := l.Forward(nil, top); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(top[1].Data, labels) {
						t.Fatalf("batch %d: labels %v, want %v", b, top[1].Data, labels)
					}
					for i, v := range top[0].Data {
						if v != float32(int(labels[i])%256)*0.5 {
							t.Fatalf("batch %d: data %v for labels %v", b, top[0].Data, labels)
						}
					}
					keys := l.(layers.Keyed).Keys()
					if keys[0] != fmt.Sprintf("%08d", int(labels[0])) {
						t.Fatalf("keys %v", keys)
					}
				}
				if persistent {
					if n := testing.AllocsPerRun(20, func() { l.Forward(nil, top) }); n != 0 {
						t.Fatalf("Forward over a persistent LMDB shard allocates %v times", n)
					}
				}
			})
		}
	}
}

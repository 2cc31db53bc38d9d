package lmdb

import (
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
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
				// Once warm, reading the LMDB (through cgo) or the in-memory
				// copy allocates nothing.
				if n := testing.AllocsPerRun(20, func() { l.Forward(nil, top) }); n != 0 {
					t.Fatalf("Forward over an LMDB shard (persistent=%v) allocates %v times", persistent, n)
				}
			})
		}
	}
}

// TestLeNetDataLayers builds the data layers of the project's LeNet nets
// (Data and CaffeOnSpark's MemoryData) as the prototxt files define them,
// over an MNIST-shaped LMDB made by the MNIST converter.
func TestLeNetDataLayers(t *testing.T) {
	dir := t.TempDir()
	mnistFixture(t, dir, "img", "lab", 130, 28, 28, true)
	db := filepath.Join(dir, "mnist_lmdb")
	if _, err := ConvertMNIST(filepath.Join(dir, "img"), filepath.Join(dir, "lab"), db, nil); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"lenet_train_test.prototxt", "lenet_memory_train_test.prototxt"} {
		np, err := prototxt.LoadNet(filepath.Join("..", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, lp := range np.GetLayer() {
			if lp.GetType() != "Data" && lp.GetType() != "MemoryData" {
				continue
			}
			seen++
			lp = proto.Clone(lp).(*caffepb.LayerParameter)
			if lp.DataParam != nil {
				lp.DataParam.Source = proto.String(db)
			} else {
				lp.MemoryDataParam.Source = proto.String("file:" + db)
			}
			phase := lp.GetInclude()[0].GetPhase()
			ctor, err := layers.Lookup(lp.GetType())
			if err != nil {
				t.Fatal(err)
			}
			l, err := ctor(lp, &layers.Context{Phase: phase, Rand: rand.New(rand.NewSource(1)), Sources: Opener(0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			top := []*layers.Blob{{}, {}}
			if err := l.Setup(nil, top); err != nil {
				t.Fatalf("%s %s: %v", file, lp.GetName(), err)
			}
			batch := 64
			if phase == caffepb.Phase_TEST {
				batch = 100
			}
			for i := 0; i < 3; i++ {
				if err := l.Forward(nil, top); err != nil {
					t.Fatal(err)
				}
			}
			l.(io.Closer).Close()
			if !top[0].ShapeEquals([]int{batch, 1, 28, 28}) || !top[1].ShapeEquals([]int{batch}) {
				t.Fatalf("%s %v: tops %v %v", file, phase, top[0].Shape(), top[1].Shape())
			}
			// Third batch, first item: record (2*batch) % 130, pixel 5 = (i+5)%256 scaled by 1/256.
			i := (2 * batch) % 130
			if want := float32(byte(i+5)) * 0.00390625; top[0].Data[5] != want || top[1].Data[0] != float32(i%10) {
				t.Fatalf("%s %v: pixel %v label %v, want %v %v", file, phase, top[0].Data[5], top[1].Data[0], want, i%10)
			}
		}
		if seen != 2 {
			t.Fatalf("%s: %d data layers", file, seen)
		}
	}
}

// TestDataLayerNotAnLMDB: the error a user sees names the layer, the phase
// and the path, once each.
func TestDataLayerNotAnLMDB(t *testing.T) {
	dir := t.TempDir()
	lp := &caffepb.LayerParameter{Name: proto.String("mnist"), Type: proto.String("Data"),
		DataParam: &caffepb.DataParameter{Source: proto.String(dir), BatchSize: proto.Uint32(4), Backend: caffepb.DataParameter_LMDB.Enum()}}
	ctor, _ := layers.Lookup("Data")
	l, err := ctor(lp, &layers.Context{Phase: caffepb.Phase_TEST, Sources: Opener(0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	err = l.Setup(nil, []*layers.Blob{{}, {}})
	want := `layer "mnist" (TEST): ` + dir + ": not an LMDB (no data.mdb)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want it to start with %q", err, want)
	}
}

package lmdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// writeTestDB writes n records keyed %08d whose label is the index and whose
// one data byte is the index mod 256.
func writeTestDB(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(1), Width: proto.Int32(1),
			Data: []byte{byte(i)}, Label: proto.Int32(int32(i))}
		if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll drains a source, returning the labels in order.
func readAll(t testing.TB, src layers.Source) []int {
	t.Helper()
	var s layers.Sample
	var out []int
	for {
		err := src.Next(&s)
		if errors.Is(err, layers.ErrEndOfData) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%08d", int(s.Label)); string(s.Key) != want {
			t.Fatalf("key %q holds label %v", s.Key, s.Label)
		}
		out = append(out, int(s.Label))
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []*caffepb.Datum{
		{Channels: proto.Int32(3), Height: proto.Int32(2), Width: proto.Int32(2), Data: []byte("abcdefghijkl"), Label: proto.Int32(7)},
		{Channels: proto.Int32(1), Height: proto.Int32(1), Width: proto.Int32(3), FloatData: []float32{1.5, -2, 3e9}, Label: proto.Int32(-1)},
		{Data: []byte("\x89PNG..."), Label: proto.Int32(2), Encoded: proto.Bool(true)},
	}
	// Enough records for several transactions and a map growth.
	big := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(256), Width: proto.Int32(256), Data: make([]byte, 65536)}
	for i, d := range want {
		if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(want); i < 2500; i++ {
		big.Label = proto.Int32(int32(i))
		if err := w.Put(fmt.Sprintf("%08d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create over an existing LMDB: %v", err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Len() != 2500 {
		t.Fatalf("Len = %d, want 2500", db.Len())
	}
	src := db.Shard(0, 1)
	defer src.Close()
	var s layers.Sample
	for i := 0; i < 2500; i++ {
		if err := src.Next(&s); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		d := big
		if i < len(want) {
			d = want[i]
		} else {
			big.Label = proto.Int32(int32(i))
		}
		if diff := sampleEqualsDatum(&s, d); diff != "" {
			t.Fatalf("record %d: %s differs", i, diff)
		}
	}
	if err := src.Next(&s); !errors.Is(err, layers.ErrEndOfData) {
		t.Fatalf("after the last record: %v, want ErrEndOfData", err)
	}
}

func TestShardCoverage(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 7, 64, 101} {
		path := writeTestDB(t, n)
		for _, persistent := range []bool{false, true} {
			db, err := Open(path, Persistent(persistent))
			if err != nil {
				t.Fatal(err)
			}
			for _, count := range []int{1, 2, 3, 4, 7, 8, 13} {
				seen := make([]int, n)
				minLen, maxLen := n+1, -1
				for i := 0; i < count; i++ {
					src := db.Shard(i, count)
					got := readAll(t, src)
					// A second pass (after Rewind) must give the same records.
					if err := src.Rewind(); err != nil {
						t.Fatal(err)
					}
					again := readAll(t, src)
					if fmt.Sprint(got) != fmt.Sprint(again) {
						t.Fatalf("n=%d shard %d/%d: second pass %v != first %v", n, i, count, again, got)
					}
					if len(got) != src.Len() {
						t.Fatalf("n=%d shard %d/%d: read %d records, Len says %d", n, i, count, len(got), src.Len())
					}
					for j, l := range got {
						seen[l]++
						if j > 0 && l != got[j-1]+1 {
							t.Fatalf("n=%d shard %d/%d is not contiguous: %v", n, i, count, got)
						}
					}
					minLen, maxLen = min(minLen, len(got)), max(maxLen, len(got))
					src.Close()
				}
				for l, c := range seen {
					if c != 1 {
						t.Fatalf("n=%d count=%d: record %d read %d times", n, count, l, c)
					}
				}
				if maxLen-minLen > 1 {
					t.Fatalf("n=%d count=%d: shard sizes range %d..%d", n, count, minLen, maxLen)
				}
			}
			db.Close()
		}
	}
}

func TestPersistentServesFromMemory(t *testing.T) {
	path := writeTestDB(t, 10)
	db, err := Open(path, Persistent(true))
	if err != nil {
		t.Fatal(err)
	}
	src := db.Shard(1, 2)
	// A rewind in the middle of the first pass must not leave a partial cache.
	var s layers.Sample
	src.Next(&s)
	src.Next(&s)
	src.Rewind()
	first := readAll(t, src)
	src.Rewind()
	second := readAll(t, src)
	src.Rewind()
	// The database is gone: the third pass can only come from memory.
	db.Close()
	third := readAll(t, src)
	if fmt.Sprint(first) != "[5 6 7 8 9]" || fmt.Sprint(second) != fmt.Sprint(first) || fmt.Sprint(third) != fmt.Sprint(first) {
		t.Fatalf("passes %v %v %v", first, second, third)
	}
	src.Rewind()
	src.Next(&s)
	if n := testing.AllocsPerRun(100, func() {
		if err := src.Next(&s); errors.Is(err, layers.ErrEndOfData) {
			src.Rewind()
		}
	}); n != 0 {
		t.Fatalf("persistent Next allocates %v times", n)
	}
	src.Close()
}

// TestPersistentRewindAtEnd: rewinding right after the last record, before
// Next has reported ErrEndOfData, keeps the complete in-memory copy.
func TestPersistentRewindAtEnd(t *testing.T) {
	db, err := Open(writeTestDB(t, 6), Persistent(true))
	if err != nil {
		t.Fatal(err)
	}
	src := db.Shard(0, 2)
	var s layers.Sample
	for i := 0; i < 3; i++ {
		if err := src.Next(&s); err != nil {
			t.Fatal(err)
		}
	}
	src.Rewind()
	db.Close()
	if got := fmt.Sprint(readAll(t, src)); got != "[0 1 2]" {
		t.Fatalf("after closing the database: %s", got)
	}
	src.Close()
}

func TestNotAnLMDB(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("hello"), 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.Mkdir(garbage, 0o755)
	os.WriteFile(filepath.Join(garbage, "data.mdb"), make([]byte, 8192), 0o644)
	level := filepath.Join(dir, "leveldb")
	os.Mkdir(level, 0o755)
	os.WriteFile(filepath.Join(level, "CURRENT"), []byte("MANIFEST-000001\n"), 0o644)
	cases := []struct{ path, want string }{
		{dir, dir + ": not an LMDB (no data.mdb): "},
		{filepath.Join(dir, "missing"), "not an LMDB (no data.mdb)"},
		{file, file + ": not an LMDB (no data.mdb): a file"},
		{garbage, garbage + ": not an LMDB"},
		{level, "LEVELDB backend is not supported"},
	}
	for _, c := range cases {
		db, err := Open(c.path)
		if err == nil {
			db.Close()
			t.Errorf("%s: opened", c.path)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.path, err, c.want)
		}
	}
}

func TestOpenSource(t *testing.T) {
	path := writeTestDB(t, 9)
	data := func(src string, backend *caffepb.DataParameter_DB) *caffepb.LayerParameter {
		return &caffepb.LayerParameter{Name: proto.String("mnist"), Type: proto.String("Data"),
			DataParam: &caffepb.DataParameter{Source: proto.String(src), Backend: backend}}
	}
	mem := func(src, class string) *caffepb.LayerParameter {
		lp := &caffepb.LayerParameter{Name: proto.String("data"), Type: proto.String("MemoryData"),
			MemoryDataParam: &caffepb.MemoryDataParameter{Source: proto.String(src)}}
		if class != "" {
			lp.SourceClass = proto.String(class)
		}
		return lp
	}
	lmdbBackend := caffepb.DataParameter_LMDB.Enum()
	cases := []struct {
		name string
		lp   *caffepb.LayerParameter
		want string // error substring, "" for success
	}{
		{"data path", data(path, lmdbBackend), ""},
		{"data default backend", data(path, nil), ""},
		{"file url", data("file://"+path, lmdbBackend), ""},
		{"file: relative", data("file:"+path, lmdbBackend), ""},
		{"leveldb", data(path, caffepb.DataParameter_LEVELDB.Enum()), "LEVELDB is not supported"},
		{"hdfs", data("hdfs:///data/mnist", lmdbBackend), `scheme "hdfs:" is not supported`},
		{"remote file host", data("file://server/x", lmdbBackend), "remote host"},
		{"memory", mem("file:"+path, LMDBSourceClass), ""},
		{"memory without class", mem(path, ""), ""},
		{"memory other class", mem(path, "com.yahoo.ml.caffe.ImageDataFrame"), "not supported"},
		{"no source", &caffepb.LayerParameter{Name: proto.String("x"), Type: proto.String("Data")}, "no data source"},
		{"missing db", data(filepath.Join(path, "nope"), lmdbBackend), `layer "mnist" (TRAIN)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := OpenSource(c.lp, caffepb.Phase_TRAIN, 1, 3)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if got := fmt.Sprint(readAll(t, src)); got != "[3 4 5]" {
				t.Fatalf("shard 1 of 3 read %s", got)
			}
			if !strings.Contains(src.Name(), "shard 1 of 3") {
				t.Fatalf("Name %q does not say the shard", src.Name())
			}
		})
	}
	if _, err := OpenSource(data(path, lmdbBackend), caffepb.Phase_TEST, 3, 3); err == nil {
		t.Fatal("shard 3 of 3 accepted")
	}
}

// BenchmarkShardNext reads MNIST-sized records (784 bytes) from an LMDB
// shard, decoding each into a reused Sample.
func BenchmarkShardNext(b *testing.B) {
	for _, persistent := range []bool{false, true} {
		b.Run(fmt.Sprintf("persistent=%v", persistent), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "db")
			w, err := Create(path)
			if err != nil {
				b.Fatal(err)
			}
			d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(28), Width: proto.Int32(28), Data: make([]byte, 784)}
			for i := 0; i < 5000; i++ {
				w.Put(fmt.Sprintf("%08d", i), d)
			}
			w.Close()
			db, err := Open(path, Persistent(persistent))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			src := db.Shard(0, 1)
			defer src.Close()
			var s layers.Sample
			b.SetBytes(784)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := src.Next(&s); err != nil {
					src.Rewind()
				}
			}
		})
	}
}

// TestOpenTwiceSharesEnv: two handles on one database (several shards, or
// a train and a test net) share one LMDB environment, and closing one
// leaves the other working.
func TestOpenTwiceSharesEnv(t *testing.T) {
	path := writeTestDB(t, 4)
	envs.Lock()
	before := len(envs.m)
	envs.Unlock()
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path + "/") // another spelling of the same directory
	if err != nil {
		t.Fatal(err)
	}
	if a.env != b.env {
		t.Fatal("two environments for one database in one process")
	}
	a.Close()
	src := b.Shard(0, 1)
	if got := fmt.Sprint(readAll(t, src)); got != "[0 1 2 3]" {
		t.Fatalf("read %s after closing the other handle", got)
	}
	src.Close()
	b.Close()
	envs.Lock()
	left := len(envs.m)
	envs.Unlock()
	if left != before {
		t.Fatalf("%d environments open after closing every handle, %d before", left, before)
	}
}

package cos

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

// writeTinyLMDB writes n records of a two-class problem: 1×4×4 images whose
// left half is brighter (label 1) or darker (label 0) than the right half.
func writeTinyLMDB(t testing.TB, path string, n int, seed int64) {
	t.Helper()
	w, err := lmdb.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		label := rng.Intn(2)
		px := make([]byte, 16)
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				v := 40 + rng.Intn(60)
				if (x < 2) == (label == 1) {
					v += 120
				}
				px[y*4+x] = byte(v)
			}
		}
		d := &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(4), Width: proto.Int32(4), Data: px, Label: proto.Int32(int32(label))}
		if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// tinyJob lays out the tiny solver, net and LMDBs (train, test records) in a
// temp folder and returns the solver path.
func tinyJob(t testing.TB, train, test int) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"tiny_solver.prototxt", "tiny_train_test.prototxt"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeTinyLMDB(t, filepath.Join(dir, "tiny_train_lmdb"), train, 1)
	writeTinyLMDB(t, filepath.Join(dir, "tiny_test_lmdb"), test, 2)
	return filepath.Join(dir, "tiny_solver.prototxt")
}

package lmdb

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cos-project/cos/layers"
)

// TestRealMNIST checks the LMDBs that scripts/fetch_mnist.sh (make data)
// writes, when they are present, against published facts about MNIST.
func TestRealMNIST(t *testing.T) {
	dir := filepath.Join("..", "data")
	if _, err := os.Stat(filepath.Join(dir, "mnist_test_lmdb", "data.mdb")); err != nil {
		t.Skip("no real MNIST under ../data (run make data)")
	}
	for _, c := range []struct {
		db         string
		n          int
		firstLabel float32
	}{
		{"mnist_train_lmdb", 60000, 5},
		{"mnist_test_lmdb", 10000, 7},
	} {
		db, err := Open(filepath.Join(dir, c.db))
		if err != nil {
			t.Fatal(err)
		}
		src := db.Shard(0, 1)
		var s layers.Sample
		if err := src.Next(&s); err != nil {
			t.Fatal(err)
		}
		if db.Len() != c.n || string(s.Key) != "00000000" || s.Label != c.firstLabel || s.Channels != 1 || s.Height != 28 || s.Width != 28 {
			t.Errorf("%s: %d records, first %q label %v shape %d×%d×%d", c.db, db.Len(), s.Key, s.Label, s.Channels, s.Height, s.Width)
		}
		src.Close()
		db.Close()
	}
	if testing.Short() {
		return
	}
	bp, channel, err := ComputeMean(filepath.Join(dir, "mnist_train_lmdb"))
	if err != nil {
		t.Fatal(err)
	}
	// MNIST's training images average 33.318 (0.1307 × 255).
	if len(bp.Data) != 784 || math.Abs(channel[0]-33.3184) > 1e-3 {
		t.Errorf("train mean %v over %d values", channel, len(bp.Data))
	}
}

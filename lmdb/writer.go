package lmdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/bmatsuo/lmdb-go/lmdb"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// BatchSize is how many records the Writer commits per transaction, as
// Caffe's converters do (they commit every 1000 records).
const BatchSize = 1000

// initialMapSize is the first map size of a new database. The map grows by
// doubling whenever a commit does not fit, so small databases stay small on
// file systems without sparse files and readers never map more than needed.
const initialMapSize = 64 << 20

// Writer adds Datum records to a new LMDB database.
type Writer struct {
	path    string
	env     *lmdb.Env
	dbi     lmdb.DBI
	mapSize int64
	keys    [][]byte
	vals    [][]byte
	n       int
	mo      proto.MarshalOptions
}

// Create makes a new LMDB database in the directory path (created if needed).
// Like Caffe's converters it refuses a directory that already holds an LMDB,
// so a conversion never silently mixes two datasets.
func Create(path string) (*Writer, error) {
	if _, err := os.Stat(filepath.Join(path, "data.mdb")); err == nil {
		return nil, fmt.Errorf("%s: an LMDB already exists there; remove it first", path)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	env, err := lmdb.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w := &Writer{path: path, env: env, mapSize: initialMapSize, mo: proto.MarshalOptions{Deterministic: true}}
	if err := env.SetMapSize(w.mapSize); err != nil {
		env.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := env.Open(path, 0, 0o664); err != nil {
		env.Close()
		return nil, fmt.Errorf("%s: cannot create LMDB: %w", path, err)
	}
	err = w.update(func(txn *lmdb.Txn) (err error) {
		w.dbi, err = txn.OpenRoot(0)
		return err
	})
	if err != nil {
		env.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// update runs fn in a write transaction, which LMDB ties to one OS thread.
func (w *Writer) update(fn lmdb.TxnOp) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return w.env.UpdateLocked(fn)
}

// Put queues one record; records are committed every BatchSize puts and on
// Close. A key that already exists is overwritten, as in Caffe.
func (w *Writer) Put(key string, d *caffepb.Datum) error {
	if w.env == nil {
		return errors.New("lmdb: Put on a closed Writer")
	}
	if len(key) == 0 || len(key) > w.env.MaxKeySize() {
		return fmt.Errorf("%s: key %q: length must be 1..%d bytes", w.path, key, w.env.MaxKeySize())
	}
	v, err := w.mo.Marshal(d)
	if err != nil {
		return fmt.Errorf("%s: key %q: %w", w.path, key, err)
	}
	return w.PutRaw([]byte(key), v)
}

// PutRaw queues an already serialized record. The Writer keeps key and val
// until the next commit, so the caller must not modify them afterwards.
func (w *Writer) PutRaw(key, val []byte) error {
	w.keys = append(w.keys, key)
	w.vals = append(w.vals, val)
	w.n++
	if len(w.keys) >= BatchSize {
		return w.Flush()
	}
	return nil
}

// Count is the number of records put so far.
func (w *Writer) Count() int { return w.n }

// Flush commits the queued records, growing the map when they do not fit.
func (w *Writer) Flush() error {
	if len(w.keys) == 0 {
		return nil
	}
	for {
		err := w.update(func(txn *lmdb.Txn) error {
			for i := range w.keys {
				if err := txn.Put(w.dbi, w.keys[i], w.vals[i], 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			break
		}
		if !lmdb.IsMapFull(err) {
			return fmt.Errorf("%s: %w", w.path, err)
		}
		// The aborted transaction left nothing behind: grow and redo it.
		w.mapSize *= 2
		if err := w.env.SetMapSize(w.mapSize); err != nil {
			return fmt.Errorf("%s: growing the map to %d bytes: %w", w.path, w.mapSize, err)
		}
	}
	clear(w.keys)
	clear(w.vals)
	w.keys, w.vals = w.keys[:0], w.vals[:0]
	return nil
}

// Close commits what is queued and closes the database.
func (w *Writer) Close() error {
	if w.env == nil {
		return nil
	}
	err := w.Flush()
	if serr := w.env.Sync(true); err == nil && serr != nil {
		err = fmt.Errorf("%s: %w", w.path, serr)
	}
	w.env.Close()
	w.env = nil
	return err
}

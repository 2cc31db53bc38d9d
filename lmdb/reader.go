package lmdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/bmatsuo/lmdb-go/lmdb"

	"github.com/cos-project/cos/layers"
)

// DB is an LMDB database of Datum records opened for reading.
type DB struct {
	path string
	env  *lmdb.Env // nil once closed
	ref  *sharedEnv
	dbi  lmdb.DBI
	n    int
	opts options
}

// Option changes how a database is read.
type Option func(*options)

type options struct {
	persistent bool
}

// Persistent keeps each shard's raw records in memory after its first pass,
// so later epochs read no LMDB pages (CaffeOnSpark's -persistent flag). It
// costs the shard's size in memory.
func Persistent(on bool) Option { return func(o *options) { o.persistent = on } }

// Open opens the LMDB database in directory path read-only. A path that is
// not an LMDB gives an error saying so ("<path>: not an LMDB (no data.mdb): ...").
//
// Opening the same database several times in one process (several shards,
// a train and a test net) shares one LMDB environment: LMDB forbids opening
// an environment twice in a process, because closing one copy would drop
// the other's file locks.
func Open(path string, opts ...Option) (*DB, error) {
	if err := checkLMDBDir(path); err != nil {
		return nil, err
	}
	ref, err := acquireEnv(path)
	if err != nil {
		return nil, err
	}
	db := &DB{path: path, env: ref.env, ref: ref}
	for _, o := range opts {
		o(&db.opts)
	}
	// Count now rather than when the environment was first opened: a
	// writer in another process may have added records since.
	err = ref.env.View(func(txn *lmdb.Txn) error {
		var err error
		if db.dbi, err = txn.OpenRoot(0); err != nil {
			return err
		}
		st, err := txn.Stat(db.dbi)
		if err != nil {
			return err
		}
		db.n = int(st.Entries)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// sharedEnv is one process-wide LMDB environment and its users.
type sharedEnv struct {
	key  string
	env  *lmdb.Env
	refs int
}

var envs = struct {
	sync.Mutex
	m map[string]*sharedEnv
}{m: map[string]*sharedEnv{}}

// acquireEnv returns the environment of the database at path, opening it
// on first use.
func acquireEnv(path string) (*sharedEnv, error) {
	key, err := filepath.Abs(path)
	if err == nil {
		if k, err := filepath.EvalSymlinks(key); err == nil {
			key = k
		}
	} else {
		key = path
	}
	envs.Lock()
	defer envs.Unlock()
	if r := envs.m[key]; r != nil {
		r.refs++
		return r, nil
	}
	env, err := openEnv(path)
	if err != nil {
		return nil, err
	}
	r := &sharedEnv{key: key, env: env, refs: 1}
	envs.m[key] = r
	return r, nil
}

func (r *sharedEnv) release() {
	envs.Lock()
	defer envs.Unlock()
	r.refs--
	if r.refs == 0 {
		delete(envs.m, r.key)
		r.env.Close()
	}
}

func openEnv(path string) (*lmdb.Env, error) {
	env, err := lmdb.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	err = env.Open(path, lmdb.Readonly, 0o664)
	if lmdb.IsErrnoSys(err, syscall.EACCES) || lmdb.IsErrnoSys(err, syscall.EROFS) {
		// A read-only directory cannot hold the lock file; Caffe retries
		// without locking too, which is safe when nobody writes.
		env.Close()
		if env, err = lmdb.NewEnv(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		err = env.Open(path, lmdb.Readonly|lmdb.NoLock, 0o664)
	}
	if err != nil {
		env.Close()
		if lmdb.IsErrno(err, lmdb.Invalid) || lmdb.IsErrno(err, lmdb.VersionMismatch) {
			return nil, fmt.Errorf("%s: not an LMDB: %w", path, err)
		}
		return nil, fmt.Errorf("%s: cannot open LMDB: %w", path, err)
	}
	return env, nil
}

// checkLMDBDir explains, before LMDB does more cryptically, why path cannot
// be an LMDB database.
func checkLMDBDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: not an LMDB (no data.mdb): %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not an LMDB (no data.mdb): a file, not a directory", path)
	}
	_, err = os.Stat(filepath.Join(path, "data.mdb"))
	if err == nil {
		return nil
	}
	if _, cerr := os.Stat(filepath.Join(path, "CURRENT")); cerr == nil {
		return fmt.Errorf("%s: a LevelDB, not an LMDB: the LEVELDB backend is not supported (convert the data to LMDB)", path)
	}
	return fmt.Errorf("%s: not an LMDB (no data.mdb): %w", path, err)
}

// Path is the directory the database was opened from.
func (db *DB) Path() string { return db.path }

// Len is the number of records.
func (db *DB) Len() int { return db.n }

// Close closes the database. Its shards must be closed first (except
// persistent ones already serving from memory).
func (db *DB) Close() error {
	if db.env != nil {
		db.env = nil
		db.ref.release()
	}
	return nil
}

// ShardRange returns the record positions [lo, hi) of shard index of count:
// contiguous key ranges in key order, as CaffeOnSpark splits an LMDB into
// partitions. Shard i starts at floor(i*n/count), so shard sizes differ by at
// most one and every record belongs to exactly one shard. Contiguous ranges
// keep every reader sequential on disk.
func ShardRange(n, index, count int) (lo, hi int) {
	return index * n / count, (index + 1) * n / count
}

// Shard returns the records of shard index (0-based) of count as a
// layers.Source. Finding the shard's first key walks the keys before it once,
// on the first Next; later passes seek to it directly. An invalid index or
// count makes Next fail with an error saying so.
func (db *DB) Shard(index, count int) layers.Source {
	s := &shard{db: db, index: index, count: count, persistent: db.opts.persistent}
	if count < 1 || index < 0 || index >= count {
		s.err = fmt.Errorf("%s: invalid shard %d of %d", db.path, index, count)
	} else {
		s.lo, s.hi = ShardRange(db.n, index, count)
	}
	if count > 1 {
		s.name = fmt.Sprintf("%s (shard %d of %d)", db.path, index, count)
	} else {
		s.name = db.path
	}
	return s
}

// shard is one contiguous key range of a DB, read through a long-lived
// read-only transaction (LMDB's NOTLS mode lets it move between goroutines,
// as long as they do not use it at the same time).
type shard struct {
	db           *DB
	ownsDB       bool
	name         string
	index, count int
	lo, hi       int
	err          error

	txn        *lmdb.Txn
	cur        *lmdb.Cursor
	positioned bool
	startKey   []byte
	pos        int // records delivered in the current pass

	persistent bool
	cached     bool // the whole shard is in arena
	arena      []byte
	offs       []int // per record: key start, value start, value end in arena
}

// Name is the database path, with the shard when there are several.
func (s *shard) Name() string { return s.name }

// Len is the number of records in the shard.
func (s *shard) Len() int { return s.hi - s.lo }

// Rewind restarts the shard; a persistent shard keeps its in-memory copy
// only once it holds a whole pass.
func (s *shard) Rewind() error {
	if s.err != nil {
		return s.err
	}
	s.keepIfComplete()
	s.pos = 0
	s.positioned = false
	if !s.cached {
		s.arena = s.arena[:0]
		s.offs = s.offs[:0]
	}
	return nil
}

// keepIfComplete switches a persistent shard to its in-memory copy once
// that holds the whole shard; the LMDB transaction is no longer needed.
func (s *shard) keepIfComplete() {
	if s.persistent && !s.cached && len(s.offs) == 3*(s.hi-s.lo) && s.pos == s.hi-s.lo {
		s.cached = true
		s.closeTxn()
	}
}

// Next decodes the shard's next record into out.
func (s *shard) Next(out *layers.Sample) error {
	if s.err != nil {
		return s.err
	}
	n := s.hi - s.lo
	if s.cached {
		if s.pos >= n {
			return layers.ErrEndOfData
		}
		o := s.offs[3*s.pos : 3*s.pos+3]
		s.pos++
		out.Key = append(out.Key[:0], s.arena[o[0]:o[1]]...)
		if err := DecodeDatum(s.arena[o[1]:o[2]], out); err != nil {
			return fmt.Errorf("%s: key %q: %w", s.name, out.Key, err)
		}
		return nil
	}
	if s.pos >= n {
		s.keepIfComplete()
		return layers.ErrEndOfData
	}
	if err := s.open(); err != nil {
		return err
	}
	var k, v []byte
	var err error
	if s.positioned {
		k, v, err = s.cur.Get(nil, nil, lmdb.Next)
	} else {
		k, v, err = s.seekStart()
	}
	if lmdb.IsNotFound(err) {
		return fmt.Errorf("%s: the database ended after %d of the shard's %d records (was it modified while open?)", s.name, s.pos, n)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.pos++
	out.Key = append(out.Key[:0], k...)
	if s.persistent {
		s.offs = append(s.offs, len(s.arena), len(s.arena)+len(k), len(s.arena)+len(k)+len(v))
		s.arena = append(s.arena, k...)
		s.arena = append(s.arena, v...)
	}
	if err := DecodeDatum(v, out); err != nil {
		return fmt.Errorf("%s: key %q: %w", s.name, k, err)
	}
	return nil
}

// seekStart positions the cursor on the shard's first record.
func (s *shard) seekStart() (k, v []byte, err error) {
	if s.startKey != nil {
		k, v, err = s.cur.Get(s.startKey, nil, lmdb.SetRange)
	} else {
		k, v, err = s.cur.Get(nil, nil, lmdb.First)
		for i := 0; i < s.lo && err == nil; i++ {
			k, v, err = s.cur.Get(nil, nil, lmdb.Next)
		}
		if err == nil {
			s.startKey = append([]byte(nil), k...)
		}
	}
	if err == nil {
		s.positioned = true
	}
	return k, v, err
}

func (s *shard) open() error {
	if s.txn != nil {
		return nil
	}
	if s.db.env == nil {
		return fmt.Errorf("%s: database closed", s.name)
	}
	txn, err := s.db.env.BeginTxn(nil, lmdb.Readonly)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	txn.RawRead = true
	cur, err := txn.OpenCursor(s.db.dbi)
	if err != nil {
		txn.Abort()
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.txn, s.cur = txn, cur
	s.positioned = false
	return nil
}

func (s *shard) closeTxn() {
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
	if s.txn != nil {
		s.txn.Abort()
		s.txn = nil
	}
}

// Close ends the shard's transaction (and closes the database when the
// shard was opened by OpenSource). Next fails afterwards.
func (s *shard) Close() error {
	s.closeTxn()
	if s.err == nil {
		s.err = errors.New(s.name + ": source closed")
	}
	if s.ownsDB {
		return s.db.Close()
	}
	return nil
}

package lmdb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Logf receives a converter's progress lines (Caffe's converters log the
// same facts); nil discards them.
type Logf func(format string, args ...any)

func (l Logf) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// writeDB creates the LMDB out through fn atomically: records go to a
// temporary directory next to out, renamed to out only when fn and the
// final commit succeed, so an interrupted conversion never leaves a partial
// database under the final name. It returns the number of records written.
func writeDB(out string, fn func(w *Writer) error) (n int, err error) {
	if st, err := os.Stat(out); err == nil {
		if !st.IsDir() {
			return 0, fmt.Errorf("%s: exists and is not a directory", out)
		}
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			return 0, fmt.Errorf("%s: already exists and is not empty; remove it first", out)
		}
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	w, err := Create(tmp)
	if err != nil {
		return 0, err
	}
	if err := fn(w); err != nil {
		w.Close()
		return 0, err
	}
	n = w.Count()
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return n, nil
}

// openMaybeGzip opens a file, transparently gunzipping it when it starts
// with the gzip magic bytes (MNIST is distributed as .gz files).
func openMaybeGzip(path string) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return bufio.NewReaderSize(gz, 1<<16), func() error { gz.Close(); return f.Close() }, nil
	}
	return br, f.Close, nil
}

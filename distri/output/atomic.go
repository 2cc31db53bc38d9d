package output

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// atomicFile is a file written under a temporary name in its final folder
// and renamed into place by Commit.
type atomicFile struct {
	final string
	f     *os.File
	w     *bufio.Writer
}

func createAtomic(path string) (*atomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &atomicFile{final: path, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (a *atomicFile) Write(p []byte) (int, error) { return a.w.Write(p) }

// Commit flushes, syncs and renames the file to its final name.
func (a *atomicFile) Commit() error {
	if err := a.w.Flush(); err != nil {
		a.Abort()
		return fmt.Errorf("write %s: %w", a.final, err)
	}
	if err := a.f.Sync(); err != nil {
		a.Abort()
		return fmt.Errorf("sync %s: %w", a.final, err)
	}
	if err := a.f.Close(); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("close %s: %w", a.final, err)
	}
	if err := os.Rename(a.f.Name(), a.final); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("rename into %s: %w", a.final, err)
	}
	return nil
}

// Abort removes the temporary file; the final name is never touched.
func (a *atomicFile) Abort() {
	a.f.Close()
	os.Remove(a.f.Name())
}

// WriteFileAtomic writes data to path through a temporary file and rename.
func WriteFileAtomic(path string, data []byte) error {
	a, err := createAtomic(path)
	if err != nil {
		return err
	}
	if _, err := a.Write(data); err != nil {
		a.Abort()
		return err
	}
	return a.Commit()
}

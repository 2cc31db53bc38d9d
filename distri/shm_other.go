//go:build !linux

package distri

import (
	"errors"
	"os"
)

// The shared-memory plane is Linux only (boot id, /dev/shm, fallocate).
const shmSupported = false

func shmMapFile(f *os.File, size, n int) (*shmPlane, error) {
	return nil, errors.New("shared memory: Linux only")
}

func (s *shmPlane) unmap() { s.mem = nil }

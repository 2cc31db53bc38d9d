package distri

import (
	"fmt"
	"os"
	"syscall"
)

const shmSupported = true

// shmMapFile reserves size bytes of f (fallocate: a full /dev/shm fails
// here rather than raising SIGBUS on first touch) and maps them shared.
func shmMapFile(f *os.File, size, n int) (*shmPlane, error) {
	fd := int(f.Fd())
	if err := syscall.Fallocate(fd, 0, 0, int64(size)); err != nil {
		return nil, fmt.Errorf("reserving %d bytes in %s: %v", size, f.Name(), err)
	}
	mem, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %v", f.Name(), err)
	}
	s := &shmPlane{mem: mem, n: n, slot: shmSlot, data: shmHeaderBytes(n)}
	for r := 0; r < shmRegions(n); r++ {
		s.v32 = append(s.v32, shmView[float32](s.region(r)))
		s.v64 = append(s.v64, shmView[float64](s.region(r)))
	}
	return s, nil
}

func (s *shmPlane) unmap() {
	if s.mem != nil {
		syscall.Munmap(s.mem)
		s.mem, s.v32, s.v64 = nil, nil, nil
	}
}

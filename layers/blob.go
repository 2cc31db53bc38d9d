package layers

import (
	"fmt"
	"strings"
)

// Blob is Caffe's Blob: an N-D array of float32 values (Data) with a
// gradient of the same shape (Diff). Most blobs are 4-D (num, channels,
// height, width) but any number of axes is allowed.
//
// Reshape keeps the backing arrays when they are large enough, so a net that
// reshapes to the same or smaller sizes allocates nothing.
type Blob struct {
	Name  string
	Data  []float32
	Diff  []float32
	shape []int
	count int
}

// NewBlob returns a zeroed blob of the given shape.
func NewBlob(shape ...int) *Blob {
	b := &Blob{}
	b.Reshape(shape...)
	return b
}

// Reshape changes the shape, growing the storage if needed. Data kept in
// place is not cleared.
func (b *Blob) Reshape(shape ...int) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			// Copy so that shape itself does not escape: callers' variadic
			// slices then stay on the stack and Reshape allocates nothing.
			bad := append([]int(nil), shape...)
			panic(fmt.Sprintf("blob %q: negative dimension in shape %v", b.Name, bad))
		}
		n *= d
	}
	if !sameShape(b.shape, shape) {
		b.shape = append(b.shape[:0], shape...)
	}
	b.count = n
	if cap(b.Data) < n {
		b.Data = make([]float32, n)
	}
	if cap(b.Diff) < n {
		b.Diff = make([]float32, n)
	}
	b.Data = b.Data[:n]
	b.Diff = b.Diff[:n]
}

// ReshapeLike gives b the shape of other.
func (b *Blob) ReshapeLike(other *Blob) { b.Reshape(other.shape...) }

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Shape returns the blob's dimensions. The slice must not be modified.
func (b *Blob) Shape() []int { return b.shape }

// ShapeEquals reports whether the blob has exactly the given shape.
func (b *Blob) ShapeEquals(shape []int) bool { return sameShape(b.shape, shape) }

// NumAxes is the number of dimensions.
func (b *Blob) NumAxes() int { return len(b.shape) }

// Count is the number of elements.
func (b *Blob) Count() int { return b.count }

// CountRange is the product of dimensions [start, end).
func (b *Blob) CountRange(start, end int) int {
	n := 1
	for i := start; i < end; i++ {
		n *= b.shape[i]
	}
	return n
}

// CountFrom is the product of dimensions from start to the last.
func (b *Blob) CountFrom(start int) int { return b.CountRange(start, len(b.shape)) }

// CanonicalAxis maps a possibly negative axis index (-1 is the last) to
// [0, NumAxes), returning an error when it is out of range.
func (b *Blob) CanonicalAxis(axis int) (int, error) {
	n := len(b.shape)
	if axis < -n || axis >= n {
		return 0, fmt.Errorf("axis %d out of range for blob %q with %d axes %v", axis, b.Name, n, b.shape)
	}
	if axis < 0 {
		axis += n
	}
	return axis, nil
}

// legacyDim returns dimension i of Caffe's legacy 4-D view (missing axes are 1).
func (b *Blob) legacyDim(i int) int {
	if i < len(b.shape) {
		return b.shape[i]
	}
	return 1
}

// Num is the legacy dimension 0 (batch).
func (b *Blob) Num() int { return b.legacyDim(0) }

// Channels is the legacy dimension 1.
func (b *Blob) Channels() int { return b.legacyDim(1) }

// Height is the legacy dimension 2.
func (b *Blob) Height() int { return b.legacyDim(2) }

// Width is the legacy dimension 3.
func (b *Blob) Width() int { return b.legacyDim(3) }

// ShareData makes b use other's data storage (Caffe's ShareData). Both must
// have the same count.
func (b *Blob) ShareData(other *Blob) { b.Data = other.Data }

// ShareDiff makes b use other's diff storage.
func (b *Blob) ShareDiff(other *Blob) { b.Diff = other.Diff }

// ZeroDiff sets the gradient to zero.
func (b *Blob) ZeroDiff() { clear(b.Diff) }

// ShapeString formats the shape as Caffe logs it: "64 1 28 28 (50176)".
func (b *Blob) ShapeString() string {
	var sb strings.Builder
	for _, d := range b.shape {
		fmt.Fprintf(&sb, "%d ", d)
	}
	fmt.Fprintf(&sb, "(%d)", b.count)
	return sb.String()
}

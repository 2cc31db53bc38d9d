package output

import (
	"path/filepath"
	"strconv"
)

// TestResultFile is the name of the -test summary inside -output.
const TestResultFile = "test_result.txt"

// WriteTestResult writes the -test summary as CaffeOnSpark did: one
// "name: v1,v2,…" line per output blob, into dir/test_result.txt, then the
// _SUCCESS marker.
func WriteTestResult(dir string, names []string, values [][]float32) error {
	var b []byte
	for i, n := range names {
		b = append(b, n...)
		b = append(b, ": "...)
		for j, v := range values[i] {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, '\n')
	}
	if err := WriteFileAtomic(filepath.Join(dir, TestResultFile), b); err != nil {
		return err
	}
	return WriteSuccess(dir)
}

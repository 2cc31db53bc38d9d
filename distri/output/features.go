package output

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// Formats accepted by NewFeatureWriter.
const (
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// SuccessMarker is the file written last into a finished output folder,
// as Hadoop/Spark jobs do, so readers know every part is complete.
const SuccessMarker = "_SUCCESS"

// FeatureWriter writes the feature rows of one executor to one part file.
type FeatureWriter interface {
	// Write adds one row: the sample's id and one value list per column, in
	// the column order given to NewFeatureWriter.
	Write(sampleID string, values [][]float32) error
	// Commit completes the part file and moves it to its final name.
	Commit() error
	// Abort discards the part file.
	Abort()
}

// PartName is the name of executor part's file: part-00000, part-00001, …
// (Parquet parts end in .parquet so tools recognise them).
func PartName(part int, format string) string {
	if format == FormatParquet {
		return fmt.Sprintf("part-%05d.parquet", part)
	}
	return fmt.Sprintf("part-%05d", part)
}

// NewFeatureWriter starts part file number part in dir, with the given
// column names (each column a list of float32 per row, after SampleID).
func NewFeatureWriter(dir string, part int, format string, columns []string) (FeatureWriter, error) {
	seen := map[string]bool{"SampleID": true}
	for _, c := range columns {
		if seen[c] {
			return nil, fmt.Errorf("feature column %q named twice (or clashes with SampleID)", c)
		}
		seen[c] = true
	}
	path := filepath.Join(dir, PartName(part, format))
	switch format {
	case FormatJSON, "":
		a, err := createAtomic(path)
		if err != nil {
			return nil, err
		}
		keys := make([][]byte, len(columns))
		for i, c := range columns {
			keys[i] = append(strconv.AppendQuote([]byte{','}, c), ':')
		}
		return &jsonWriter{file: a, keys: keys}, nil
	case FormatParquet:
		return newParquetWriter(path, columns)
	default:
		return nil, fmt.Errorf("unknown output format %q (want json or parquet)", format)
	}
}

type jsonWriter struct {
	file *atomicFile
	keys [][]byte
	buf  []byte
}

func (w *jsonWriter) Write(id string, values [][]float32) error {
	if len(values) != len(w.keys) {
		return fmt.Errorf("feature row %s: %d columns, want %d", id, len(values), len(w.keys))
	}
	b := append(w.buf[:0], `{"SampleID":`...)
	b = strconv.AppendQuote(b, id)
	for i, vs := range values {
		b = append(b, w.keys[i]...)
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendJSONFloat(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, '}', '\n')
	w.buf = b
	_, err := w.file.Write(b)
	return err
}

func (w *jsonWriter) Commit() error { return w.file.Commit() }
func (w *jsonWriter) Abort()        { w.file.Abort() }

// AppendJSONFloat formats v the way Spark's JSON writer did for
// CaffeOnSpark (7 becomes 7.0), using the shortest float32 form. JSON has no
// NaN or infinity: those become null.
func AppendJSONFloat(b []byte, v float32) []byte {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 32)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' || c == 'E' {
			return b
		}
	}
	return append(b, '.', '0')
}

type parquetWriter struct {
	file    *atomicFile
	w       *parquet.Writer
	columns []string
	row     map[string]any
}

func newParquetWriter(path string, columns []string) (*parquetWriter, error) {
	group := parquet.Group{"SampleID": parquet.String()}
	for _, c := range columns {
		group[c] = parquet.Repeated(parquet.Leaf(parquet.FloatType))
	}
	schema := parquet.NewSchema("features", group)
	a, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	return &parquetWriter{
		file:    a,
		w:       parquet.NewWriter(a, schema),
		columns: columns,
		row:     make(map[string]any, len(columns)+1),
	}, nil
}

func (w *parquetWriter) Write(id string, values [][]float32) error {
	if len(values) != len(w.columns) {
		return fmt.Errorf("feature row %s: %d columns, want %d", id, len(values), len(w.columns))
	}
	w.row["SampleID"] = id
	for i, c := range w.columns {
		w.row[c] = append([]float32(nil), values[i]...)
	}
	if err := w.w.Write(w.row); err != nil {
		return fmt.Errorf("parquet row %s: %w", id, err)
	}
	return nil
}

func (w *parquetWriter) Commit() error {
	if err := w.w.Close(); err != nil {
		w.file.Abort()
		return fmt.Errorf("parquet footer: %w", err)
	}
	return w.file.Commit()
}

func (w *parquetWriter) Abort() { w.file.Abort() }

// WriteSuccess marks dir complete. Call it only after every part committed.
func WriteSuccess(dir string) error {
	return WriteFileAtomic(filepath.Join(dir, SuccessMarker), nil)
}

// ClearParts removes part files and the success marker left in dir by an
// earlier run, so a rerun with fewer executors leaves no stale parts.
func ClearParts(dir string) error {
	for _, pat := range []string{"part-*", SuccessMarker, ".part-*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range m {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

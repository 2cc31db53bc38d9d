package lmdb

import (
	"fmt"
	"strings"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// LMDBSourceClass is CaffeOnSpark's source_class for LMDB-backed MemoryData layers.
const LMDBSourceClass = "com.yahoo.ml.caffe.LMDB"

// SourcePath returns the local path of a data layer's records: data_param.source
// for Data layers, memory_data_param.source for CaffeOnSpark's MemoryData
// layers, with a file: URL prefix removed. Remote schemes (hdfs:, s3:, ...) and
// Caffe's LEVELDB backend are rejected with an error naming the layer.
func SourcePath(lp *caffepb.LayerParameter) (string, error) {
	name := lp.GetName()
	var src string
	switch {
	case lp.GetDataParam().GetSource() != "":
		dp := lp.GetDataParam()
		// backend defaults to LEVELDB in caffe.proto, but only an explicit
		// LEVELDB is refused: Open recognises a LevelDB directory anyway.
		if dp.Backend != nil && dp.GetBackend() != caffepb.DataParameter_LMDB {
			return "", fmt.Errorf("layer %q: data_param.backend %v is not supported; only LMDB is (convert the data with cos-data)", name, dp.GetBackend())
		}
		src = dp.GetSource()
	case lp.GetMemoryDataParam().GetSource() != "":
		if c := lp.GetSourceClass(); c != "" && c != LMDBSourceClass {
			return "", fmt.Errorf("layer %q: source_class %q is not supported; only %q is", name, c, LMDBSourceClass)
		}
		src = lp.GetMemoryDataParam().GetSource()
	default:
		return "", fmt.Errorf("layer %q (%s): no data source: set data_param.source or memory_data_param.source", name, lp.GetType())
	}
	return localPath(name, src)
}

// localPath turns a source string into a file system path.
func localPath(layer, src string) (string, error) {
	if rest, ok := strings.CutPrefix(src, "file:"); ok {
		switch {
		case strings.HasPrefix(rest, "///"):
			rest = rest[2:]
		case strings.HasPrefix(rest, "//localhost/"):
			rest = rest[len("//localhost"):]
		case strings.HasPrefix(rest, "//"):
			return "", fmt.Errorf("layer %q: source %q: file URLs naming a remote host are not supported", layer, src)
		}
		if rest == "" {
			return "", fmt.Errorf("layer %q: source %q: empty path", layer, src)
		}
		return rest, nil
	}
	if i := strings.Index(src, ":"); i > 1 && isScheme(src[:i]) {
		return "", fmt.Errorf("layer %q: source %q: scheme %q is not supported; use a local path or a file: URL", layer, src, src[:i+1])
	}
	return src, nil
}

func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// OpenSource opens shard index (0-based) of count of the LMDB named by a data
// layer's parameters; it fits layers.SourceOpener once the caller fixes shard
// and count. The phase is only used in messages. Closing the source closes
// the database.
func OpenSource(lp *caffepb.LayerParameter, phase caffepb.Phase, index, count int, opts ...Option) (layers.Source, error) {
	path, err := SourcePath(lp)
	if err != nil {
		return nil, err
	}
	if count < 1 || index < 0 || index >= count {
		return nil, fmt.Errorf("layer %q: invalid shard %d of %d", lp.GetName(), index, count)
	}
	db, err := Open(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("layer %q (%v): %w", lp.GetName(), phase, err)
	}
	src := db.Shard(index, count).(*shard)
	src.ownsDB = true
	return src, nil
}

// Opener returns a layers.SourceOpener reading shard of count.
func Opener(shard, count int, opts ...Option) layers.SourceOpener {
	return func(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
		return OpenSource(lp, phase, shard, count, opts...)
	}
}

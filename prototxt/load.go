package prototxt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// ParseError is a text-format error at a position in a file. Error() reads
// "file:line:col: message" (line and column 1-based, column in characters).
type ParseError struct {
	File string
	Line int // 0 when unknown
	Col  int // 0 when unknown
	Msg  string
}

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// prototext errors look like "proto: (line 3:5): unknown field: foo" or
// "proto: syntax error (line 1:6): invalid UTF-8 detected"; the "proto:"
// prefix may be followed by a normal or a non-breaking space.
var (
	posRE    = regexp.MustCompile(`\(line (\d+):(\d+)\):\s*`)
	prefixRE = regexp.MustCompile(`proto:[\s\x{00a0}]*`)
)

// textError turns an error from prototext into a *ParseError for file name.
func textError(name string, data []byte, err error) error {
	msg := err.Error()
	pe := &ParseError{File: name}
	if m := posRE.FindStringSubmatchIndex(msg); m != nil {
		pe.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		pe.Col, _ = strconv.Atoi(msg[m[4]:m[5]])
		// Keep what precedes the position ("syntax error") and what follows.
		msg = strings.TrimSpace(msg[:m[0]]) + " " + msg[m[1]:]
	} else if strings.Contains(msg, "unexpected EOF") {
		pe.Line, pe.Col = endPosition(data)
	}
	msg = prefixRE.ReplaceAllString(msg, "")
	pe.Msg = strings.TrimSpace(msg)
	if pe.Msg == "" {
		pe.Msg = "parse error"
	}
	return pe
}

// endPosition is the line:col just past the last byte of data.
func endPosition(data []byte) (line, col int) {
	line = bytes.Count(data, []byte("\n")) + 1
	last := data
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		last = data[i+1:]
	}
	return line, utf8.RuneCount(last) + 1
}

// parseText parses Caffe text format data into m; name is used in errors.
func parseText(data []byte, name string, m proto.Message) error {
	if err := (prototext.UnmarshalOptions{}).Unmarshal(data, m); err != nil {
		return textError(name, data, err)
	}
	return nil
}

// ParseNet parses a NetParameter in text format, upgrades legacy (V0/V1)
// layer definitions, and checks that no layer has both include and exclude
// rules. name (usually the file name) prefixes every error.
func ParseNet(data []byte, name string) (*caffepb.NetParameter, error) {
	np := &caffepb.NetParameter{}
	if err := parseText(data, name, np); err != nil {
		return nil, err
	}
	if _, err := UpgradeNet(np); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := CheckRules(np); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return np, nil
}

// ParseSolver parses a SolverParameter in text format and upgrades the
// deprecated solver_type enum into the type string. Inline nets
// (net_param, train_net_param, test_net_param) are upgraded too.
func ParseSolver(data []byte, name string) (*caffepb.SolverParameter, error) {
	sp := &caffepb.SolverParameter{}
	if err := parseText(data, name, sp); err != nil {
		return nil, err
	}
	if _, err := UpgradeSolver(sp); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	inline := append([]*caffepb.NetParameter{sp.NetParam, sp.TrainNetParam}, sp.TestNetParam...)
	for _, np := range inline {
		if np == nil {
			continue
		}
		if _, err := UpgradeNet(np); err != nil {
			return nil, fmt.Errorf("%s: inline net: %w", name, err)
		}
		if err := CheckRules(np); err != nil {
			return nil, fmt.Errorf("%s: inline net: %w", name, err)
		}
	}
	return sp, nil
}

// LoadNet reads and parses a text-format net (.prototxt); see ParseNet.
func LoadNet(path string) (*caffepb.NetParameter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseNet(data, path)
}

// LoadSolver reads and parses a text-format solver; see ParseSolver. Paths
// inside the solver are returned as written; see LoadSolverAndNet.
func LoadSolver(path string) (*caffepb.SolverParameter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSolver(data, path)
}

// LoadBinaryNet reads a binary NetParameter (a .caffemodel) and upgrades
// legacy layer definitions.
func LoadBinaryNet(path string) (*caffepb.NetParameter, error) {
	np := &caffepb.NetParameter{}
	if err := loadBinary(path, np); err != nil {
		return nil, err
	}
	if _, err := UpgradeNet(np); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return np, nil
}

// LoadBlobProto reads a binary BlobProto (a .binaryproto, e.g. a mean file).
func LoadBlobProto(path string) (*caffepb.BlobProto, error) {
	b := &caffepb.BlobProto{}
	if err := loadBinary(path, b); err != nil {
		return nil, err
	}
	return b, nil
}

// LoadSolverState reads a binary SolverState (a .solverstate snapshot).
func LoadSolverState(path string) (*caffepb.SolverState, error) {
	s := &caffepb.SolverState{}
	if err := loadBinary(path, s); err != nil {
		return nil, err
	}
	return s, nil
}

func loadBinary(path string, m proto.Message) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("%s: not a binary %s: %s", path,
			m.ProtoReflect().Descriptor().Name(), prefixRE.ReplaceAllString(err.Error(), ""))
	}
	return nil
}

// WriteBinary writes m in binary protobuf format to path atomically: the
// bytes go to a temporary file in the same directory, which is synced and
// then renamed over path. A crash leaves either the old file or the new one,
// never a partial file under path.
func WriteBinary(path string, m proto.Message) error {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, data)
}

// WriteText writes m in Caffe text format to path atomically (see WriteBinary).
func WriteText(path string, m proto.Message) error {
	data, err := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system supports
	// syncing a directory, so failures here are not reported.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

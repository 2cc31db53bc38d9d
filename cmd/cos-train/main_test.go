package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // substring of the error
	}{
		{"no conf", []string{"-train"}, "-conf"},
		{"nothing to do", []string{"-conf", "s.prototxt"}, "nothing to do"},
		{"unknown flag", []string{"-conf", "s.prototxt", "-train", "-gpu", "0"}, "flag provided but not defined: -gpu"},
		{"stray argument", []string{"-conf", "s.prototxt", "-train", "extra"}, `unexpected argument "extra"`},
		{"test without model", []string{"-conf", "s.prototxt", "-test"}, "needs -model"},
		{"features without model", []string{"-conf", "s.prototxt", "-features", "accuracy", "-output", "o"}, "needs -model"},
		{"train and features without model", []string{"-conf", "s.prototxt", "-train", "-features", "accuracy", "-output", "o"}, "where training writes"},
		{"features without output", []string{"-conf", "s.prototxt", "-features", "accuracy", "-model", "m"}, "-output"},
		{"train and test", []string{"-conf", "s.prototxt", "-train", "-test", "-model", "m"}, "separate jobs"},
		{"test and features", []string{"-conf", "s.prototxt", "-test", "-features", "a", "-model", "m", "-output", "o"}, "separate jobs"},
		{"label without features", []string{"-conf", "s.prototxt", "-train", "-label", "label"}, "-label only applies"},
		{"snapshot without train", []string{"-conf", "s.prototxt", "-test", "-model", "m", "-snapshot", "s.solverstate"}, "only apply with -train"},
		{"infiniband", []string{"-conf", "s.prototxt", "-train", "-connection", "infiniband"}, "not supported"},
		{"unknown connection", []string{"-conf", "s.prototxt", "-train", "-connection", "carrier-pigeon"}, "unknown"},
		{"bad format", []string{"-conf", "s.prototxt", "-features", "a", "-model", "m", "-output", "o", "-outputFormat", "csv"}, "json or parquet"},
		{"negative cluster", []string{"-conf", "s.prototxt", "-train", "-clusterSize", "-2"}, "-clusterSize"},
		{"zero-size cluster", []string{"-conf", "s.prototxt", "-train", "-clusterSize", "0"}, "-clusterSize"},
		{"partitions below cluster", []string{"-conf", "s.prototxt", "-train", "-clusterSize", "4", "-lmdb_partitions", "2"}, "smaller than -clusterSize"},
		{"negative devices", []string{"-conf", "s.prototxt", "-train", "-devices", "-1"}, "-devices"},
		{"empty feature name", []string{"-conf", "s.prototxt", "-features", "a,,b", "-model", "m", "-output", "o"}, "empty blob name"},
		{"not a number", []string{"-conf", "s.prototxt", "-train", "-clusterSize", "two"}, "invalid value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), c.want)
			}
		})
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-h exit code %d", code)
	}
	help := stderr.String()
	for _, f := range []string{"-conf", "-train", "-test", "-features", "-label", "-outputFormat", "-model", "-output",
		"-clusterSize", "-devices", "-connection", "-snapshot", "-weights", "-persistent", "-lmdb_partitions", "-resize"} {
		if !strings.Contains(help, "  "+f) {
			t.Errorf("-h does not document %s", f)
		}
	}
	for _, s := range []string{"defaulted to RDMA", "-snapshot alone resumes", "only source of the cluster size"} {
		if !strings.Contains(help, s) {
			t.Errorf("-h does not say %q", s)
		}
	}
}

func TestRunErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad_solver.prototxt")
	os.WriteFile(bad, []byte("net: \"x.prototxt\"\nbase_lr: 0.01\nmax_iter: [\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing solver", []string{"-train", "-conf", filepath.Join(dir, "nope.prototxt")}, []string{"nope.prototxt"}},
		{"syntax error", []string{"-train", "-conf", bad}, []string{"bad_solver.prototxt:3:"}},
		{"hdfs model", []string{"-test", "-conf", bad, "-model", "hdfs:///models/m.caffemodel"}, []string{"-model", "hdfs:///models/m.caffemodel", "mount"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestPathsAndURLs: file: URLs work wherever a path is taken; remote
// schemes are refused with advice to mount or copy.
func TestPathsAndURLs(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"hdfs conf", []string{"-train", "-conf", "hdfs:///jobs/solver.prototxt"}},
		{"hdfs model", []string{"-test", "-conf", "s.prototxt", "-model", "hdfs://nn:8020/m.caffemodel"}},
		{"wasb weights", []string{"-train", "-conf", "s.prototxt", "-weights", "wasb://c@a.blob.core.windows.net/w.caffemodel"}},
		{"s3 snapshot", []string{"-train", "-conf", "s.prototxt", "-snapshot", "s3://b/s.solverstate"}},
		{"hdfs output", []string{"-features", "ip", "-conf", "s.prototxt", "-model", "m", "-output", "hdfs:///out"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(c.args, &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(stderr.String(), "mount") || !strings.Contains(stderr.String(), "copy") {
				t.Errorf("error %q does not say to mount or copy the data", stderr.String())
			}
		})
	}
}

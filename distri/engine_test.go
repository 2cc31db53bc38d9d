package distri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("  file-secret\n"), 0o600)
	tests := []struct {
		name      string
		env       map[string]string
		engine    string
		rank, n   int
		master    string
		token     string
		rendezvus string
		err       string
	}{
		{name: "nothing", env: nil, engine: "none", rank: 0, n: 1},
		{name: "explicit", env: map[string]string{"COS_RANK": "2", "COS_WORLD_SIZE": "3", "COS_MASTER": "h:1", "COS_JOB_TOKEN": "t"},
			engine: "env", rank: 2, n: 3, master: "h:1", token: "t"},
		{name: "explicit wins over slurm", env: map[string]string{"COS_RANK": "1", "COS_WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "4"},
			engine: "env", rank: 1, n: 2},
		{name: "slurm", env: map[string]string{"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_NUM_TASKS": "2",
			"SLURM_STEP_NODELIST": "no-such-host-cos[07-09]", "SLURM_LAUNCH_NODE_IPADDR": "10.1.2.3", "SLURM_JOB_ID": "12", "SLURM_STEP_ID": "0",
			"COS_JOB_TOKEN_FILE": tokenFile},
			engine: "slurm", rank: 1, n: 2, master: "10.1.2.3:20084", token: "file-secret"},
		{name: "slurm resolvable first node", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2",
			"SLURM_JOB_NODELIST": "localhost,other", "SLURM_LAUNCH_NODE_IPADDR": "10.1.2.3", "COS_MASTER_PORT": "4000"},
			engine: "slurm", rank: 0, n: 2, master: "localhost:4000"},
		{name: "slurm master flag", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "COS_MASTER": "m:5"},
			engine: "slurm", rank: 0, n: 2, master: "m:5"},
		{name: "mpi one host", env: map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
			"OMPI_MCA_ess_base_jobid": "123456"},
			engine: "mpi", rank: 1, n: 2, rendezvus: filepath.Join(os.TempDir(), "cos-rendezvous-123456")},
		{name: "mpi several hosts", env: map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
			err: "set COS_MASTER=host:port or COS_RENDEZVOUS_FILE"},
		{name: "mpi with master", env: map[string]string{"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "COS_MASTER": "a:1"},
			engine: "mpi", rank: 3, n: 4, master: "a:1"},
		{name: "k8s", env: map[string]string{"JOB_COMPLETION_INDEX": "1", "COS_WORLD_SIZE": "2", "COS_MASTER": "job-0.svc:29500", "COS_JOB_TOKEN": "k"},
			engine: "k8s", rank: 1, n: 2, master: "job-0.svc:29500", token: "k"},
		{name: "k8s without world", env: map[string]string{"JOB_COMPLETION_INDEX": "1"}, err: "COS_WORLD_SIZE must be set"},
		{name: "k8s without master", env: map[string]string{"JOB_COMPLETION_INDEX": "0", "COS_WORLD_SIZE": "2"}, err: "COS_MASTER must name pod 0"},
		{name: "rank out of range", env: map[string]string{"COS_RANK": "3", "COS_WORLD_SIZE": "3"}, err: "rank 3 (from env) out of range"},
		{name: "bad number", env: map[string]string{"SLURM_PROCID": "x"}, err: `SLURM_PROCID="x" is not an integer`},
		{name: "empty token file", env: map[string]string{"COS_JOB_TOKEN_FILE": filepath.Join(dir, "missing")}, err: "reading job token file"},
		{name: "bad timeout", env: map[string]string{"COS_FAIL_TIMEOUT": "soon"}, err: "not a positive duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Detect(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Engine != tc.engine || cfg.Rank != tc.rank || cfg.WorldSize != tc.n || cfg.Master != tc.master ||
				cfg.Token != tc.token || cfg.RendezvousFile != tc.rendezvus {
				t.Fatalf("got engine %q rank %d/%d master %q token %q rendezvous %q; want %q %d/%d %q %q %q",
					cfg.Engine, cfg.Rank, cfg.WorldSize, cfg.Master, cfg.Token, cfg.RendezvousFile,
					tc.engine, tc.rank, tc.n, tc.master, tc.token, tc.rendezvus)
			}
		})
	}
}

func TestFirstHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"node1":               "node1",
		"node[07-09,12],gpu1": "node07",
		"a1,b[1-2]":           "a1",
		"rack[3-4]-n[01-02]":  "rack3-n01",
		"gpu[12]":             "gpu12",
		"n[001,003-005]":      "n001",
	} {
		if got := FirstHost(in); got != want {
			t.Errorf("FirstHost(%q) = %q, want %q", in, got, want)
		}
	}
}

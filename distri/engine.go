package distri

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables cos reads (and the local launcher sets).
const (
	// EnvRank and EnvWorldSize give the rank and world size explicitly
	// (the local launcher sets them; they override every engine).
	EnvRank      = "COS_RANK"
	EnvWorldSize = "COS_WORLD_SIZE"
	// EnvMaster is rank 0's host:port.
	EnvMaster = "COS_MASTER"
	// EnvMasterPort is the port rank 0 listens on under Slurm when
	// EnvMaster is not set (default 20000 + a number derived from the job
	// and step ids, so concurrent jobs on a node do not collide).
	EnvMasterPort = "COS_MASTER_PORT"
	// EnvListen is the address this executor binds (host:port).
	EnvListen = "COS_LISTEN"
	// EnvAdvertise is the host:port peers dial to reach this executor.
	EnvAdvertise = "COS_ADVERTISE"
	// EnvToken is the job token; EnvTokenFile names a file holding it
	// (e.g. a mounted Kubernetes Secret).
	EnvToken     = "COS_JOB_TOKEN"
	EnvTokenFile = "COS_JOB_TOKEN_FILE"
	// EnvRendezvousFile is a path on a file system shared by all hosts where
	// rank 0 publishes its address (and a token, if none is given).
	EnvRendezvousFile = "COS_RENDEZVOUS_FILE"
	// EnvFailTimeout overrides Config.FailTimeout (a Go duration, "10s").
	EnvFailTimeout = "COS_FAIL_TIMEOUT"
	// EnvTCPOnly=1 sets Config.TCPOnly (no unix socket between executors
	// on one host).
	EnvTCPOnly = "COS_TCP_ONLY"
	// EnvShm=0 sets Config.NoShm (no shared-memory all-reduce between
	// executors on one host).
	EnvShm = "COS_SHM"
	// EnvListenFD is set by the local launcher for rank 0: the number of an
	// inherited file descriptor holding an already bound socket.
	EnvListenFD = "COS_LISTEN_FD"
)

// Detect builds the cluster configuration from the environment (getenv is
// os.Getenv, or a map lookup in tests). Command-line flags override: set the
// returned fields after calling it.
//
// In order of precedence:
//
//   - Explicit: COS_RANK and COS_WORLD_SIZE (plus COS_MASTER). The local
//     launcher (LaunchLocal) sets these for its children.
//   - Slurm (srun): SLURM_PROCID is the rank and SLURM_STEP_NUM_TASKS (or
//     SLURM_NTASKS) the world size. Rank 0's host is the first host of
//     SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST, SLURM_NODELIST), where
//     srun's default block distribution places task 0, if that name
//     resolves, else SLURM_LAUNCH_NODE_IPADDR; the port is COS_MASTER_PORT
//     or derived from SLURM_JOB_ID and SLURM_STEP_ID. COS_MASTER overrides
//     both. The token must be exported to the job (COS_JOB_TOKEN or
//     COS_JOB_TOKEN_FILE); srun passes the environment to every task.
//   - Open MPI (mpirun): OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE.
//     Open MPI names no master, so rank 0's address comes from COS_MASTER,
//     or from a rendezvous file: COS_RENDEZVOUS_FILE on a file system every
//     host shares, where rank 0 writes its address (and a fresh token when
//     none is given; the file is mode 0600 and removed at the end). When
//     all ranks run on one host (OMPI_COMM_WORLD_LOCAL_SIZE equals the world
//     size) the rendezvous file defaults to one named after the job in the
//     temporary directory, so `mpirun -np 2 cos-train ...` needs nothing
//     else.
//   - Kubernetes indexed Job: JOB_COMPLETION_INDEX is the rank;
//     COS_WORLD_SIZE (the Job's completions) and COS_MASTER (the DNS name
//     of pod 0 behind a headless service, e.g. cos-0.cos:29500) must be set,
//     and the token comes from a Secret (COS_JOB_TOKEN or COS_JOB_TOKEN_FILE).
//     See deploy/k8s-indexed-job.yaml.
//
// Without any of these it returns a world of size 1.
func Detect(getenv func(string) string) (Config, error) {
	var cfg Config
	var err error
	geti := func(name string) (int, bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, true, fmt.Errorf("distri: environment variable %s=%q is not an integer", name, v)
		}
		return n, true, nil
	}
	rank, hasRank, err := geti(EnvRank)
	if err != nil {
		return cfg, err
	}
	world, hasWorld, err := geti(EnvWorldSize)
	if err != nil {
		return cfg, err
	}
	cfg.Master = getenv(EnvMaster)
	cfg.Listen = getenv(EnvListen)
	cfg.Advertise = getenv(EnvAdvertise)
	cfg.RendezvousFile = getenv(EnvRendezvousFile)

	switch {
	case hasRank:
		cfg.Engine = "env"
		if getenv(EnvListenFD) != "" || getenv("COS_LOCAL") == "1" {
			cfg.Engine = "local"
		}
		cfg.Rank = rank
		if !hasWorld {
			return cfg, fmt.Errorf("distri: %s is set but %s is not", EnvRank, EnvWorldSize)
		}
		cfg.WorldSize = world
	case getenv("SLURM_PROCID") != "":
		cfg.Engine = "slurm"
		if cfg.Rank, _, err = geti("SLURM_PROCID"); err != nil {
			return cfg, err
		}
		n, ok, err := geti("SLURM_STEP_NUM_TASKS")
		if err != nil {
			return cfg, err
		}
		if !ok {
			if n, ok, err = geti("SLURM_NTASKS"); err != nil {
				return cfg, err
			}
		}
		if !ok {
			return cfg, fmt.Errorf("distri: under Slurm (SLURM_PROCID is set) but neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is")
		}
		cfg.WorldSize = n
		if cfg.Master == "" && n > 1 {
			if cfg.Master, err = slurmMaster(getenv); err != nil {
				return cfg, err
			}
		}
	case getenv("OMPI_COMM_WORLD_RANK") != "":
		cfg.Engine = "mpi"
		if cfg.Rank, _, err = geti("OMPI_COMM_WORLD_RANK"); err != nil {
			return cfg, err
		}
		n, ok, err := geti("OMPI_COMM_WORLD_SIZE")
		if err != nil {
			return cfg, err
		}
		if !ok {
			return cfg, fmt.Errorf("distri: OMPI_COMM_WORLD_RANK is set but OMPI_COMM_WORLD_SIZE is not")
		}
		cfg.WorldSize = n
		local, _, _ := geti("OMPI_COMM_WORLD_LOCAL_SIZE")
		oneHost := local == n
		if oneHost && cfg.Listen == "" && cfg.Master == "" {
			cfg.Listen = "127.0.0.1:0"
		}
		if cfg.Master == "" && cfg.RendezvousFile == "" && n > 1 {
			if !oneHost {
				return cfg, fmt.Errorf("distri: under Open MPI across several hosts rank 0's address is unknown: set %s=host:port or %s=/shared/path (exported with mpirun -x)", EnvMaster, EnvRendezvousFile)
			}
			job := firstNonEmpty(getenv("OMPI_MCA_ess_base_jobid"), getenv("PMIX_NAMESPACE"), getenv("OMPI_MCA_orte_ess_jobid"), getenv("OMPI_MCA_orte_hnp_uri"))
			if job == "" {
				return cfg, fmt.Errorf("distri: under Open MPI without a job id in the environment: set %s or %s", EnvMaster, EnvRendezvousFile)
			}
			cfg.RendezvousFile = filepath.Join(os.TempDir(), "cos-rendezvous-"+sanitize(job))
		}
	case getenv("JOB_COMPLETION_INDEX") != "":
		cfg.Engine = "k8s"
		if cfg.Rank, _, err = geti("JOB_COMPLETION_INDEX"); err != nil {
			return cfg, err
		}
		if !hasWorld {
			return cfg, fmt.Errorf("distri: in a Kubernetes indexed Job (JOB_COMPLETION_INDEX is set) %s must be set to the number of completions", EnvWorldSize)
		}
		cfg.WorldSize = world
		if cfg.Master == "" && world > 1 {
			return cfg, fmt.Errorf("distri: in a Kubernetes indexed Job %s must name pod 0 through a headless service, e.g. myjob-0.myjob:29500", EnvMaster)
		}
	default:
		cfg.Engine = "none"
		cfg.WorldSize = 1
		if hasWorld {
			cfg.WorldSize = world
		}
	}
	if cfg.WorldSize < 1 {
		return cfg, fmt.Errorf("distri: world size %d (from %s) must be at least 1", cfg.WorldSize, cfg.Engine)
	}
	if cfg.Rank < 0 || cfg.Rank >= cfg.WorldSize {
		return cfg, fmt.Errorf("distri: rank %d (from %s) out of range for world size %d", cfg.Rank, cfg.Engine, cfg.WorldSize)
	}

	cfg.Token = strings.TrimSpace(getenv(EnvToken))
	if cfg.Token == "" {
		if f := getenv(EnvTokenFile); f != "" {
			if cfg.Token, err = ReadTokenFile(f); err != nil {
				return cfg, err
			}
		}
	}
	if v := getenv(EnvFailTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("distri: %s=%q is not a positive duration (e.g. 10s)", EnvFailTimeout, v)
		}
		cfg.FailTimeout = d
	}
	cfg.TCPOnly = getenv(EnvTCPOnly) == "1"
	cfg.NoShm = getenv(EnvShm) == "0"
	if v := getenv(EnvListenFD); v != "" && cfg.Rank == 0 {
		fd, err := strconv.Atoi(v)
		if err != nil {
			return cfg, fmt.Errorf("distri: %s=%q is not a file descriptor", EnvListenFD, v)
		}
		f := os.NewFile(uintptr(fd), "cos-listener")
		lis, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return cfg, fmt.Errorf("distri: inherited listener (fd %d): %v", fd, err)
		}
		cfg.Listener = lis
	}
	return cfg, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

func slurmMaster(getenv func(string) string) (string, error) {
	port := 0
	if v := getenv(EnvMasterPort); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return "", fmt.Errorf("distri: %s=%q is not a port", EnvMasterPort, v)
		}
		port = p
	} else {
		job, _ := strconv.Atoi(getenv("SLURM_JOB_ID"))
		step, _ := strconv.Atoi(getenv("SLURM_STEP_ID"))
		port = 20000 + (job*7+step)%20000
	}
	host := ""
	if first := FirstHost(firstNonEmpty(getenv("SLURM_STEP_NODELIST"), getenv("SLURM_JOB_NODELIST"), getenv("SLURM_NODELIST"))); first != "" {
		if _, err := net.LookupHost(first); err == nil {
			host = first
		}
	}
	if host == "" {
		host = getenv("SLURM_LAUNCH_NODE_IPADDR")
	}
	if host == "" {
		return "", fmt.Errorf("distri: under Slurm but rank 0's host is unknown (no resolvable SLURM_STEP_NODELIST, no SLURM_LAUNCH_NODE_IPADDR): set %s", EnvMaster)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// FirstHost returns the first host of a Slurm host list such as
// "node[07-09,12],gpu1" ("node07").
func FirstHost(list string) string {
	list = strings.TrimSpace(list)
	if list == "" {
		return ""
	}
	depth := 0
	end := len(list)
	for i, ch := range list {
		if ch == '[' {
			depth++
		} else if ch == ']' {
			depth--
		} else if ch == ',' && depth == 0 {
			end = i
			break
		}
	}
	h := list[:end]
	open := strings.IndexByte(h, '[')
	if open < 0 {
		return h
	}
	inner := strings.TrimSuffix(h[open+1:], "]")
	if i := strings.IndexByte(h[open:], ']'); i >= 0 {
		inner = h[open+1 : open+i]
	}
	first := inner
	if i := strings.IndexByte(first, ','); i >= 0 {
		first = first[:i]
	}
	if i := strings.IndexByte(first, '-'); i >= 0 {
		first = first[:i]
	}
	suffix := ""
	if i := strings.IndexByte(h[open:], ']'); i >= 0 {
		suffix = h[open+i+1:]
	}
	out := h[:open] + first + suffix
	if strings.IndexByte(suffix, '[') >= 0 {
		return FirstHost(out) // several bracketed ranges: expand the next
	}
	return out
}

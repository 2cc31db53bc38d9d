package distri

import (
	"fmt"
	"log"
	"net"
	"os"
	"time"
)

// Config describes how one executor joins a job. Zero fields take the
// defaults documented on each field; Detect fills the fields an engine
// (Slurm, Open MPI, Kubernetes, the local launcher) provides.
type Config struct {
	// Rank of this executor, 0 ≤ Rank < WorldSize. Rank 0 coordinates.
	Rank int
	// WorldSize is the number of executors (1 = no cluster, no sockets).
	WorldSize int
	// Master is rank 0's address (host:port). Rank 0 listens there; the
	// others dial it to register.
	Master string
	// Listen is the address this executor binds. Default: for rank 0 the
	// port of Master on all interfaces (the exact Master address when it is
	// a loopback IP); for the others 127.0.0.1:0 when Master is a loopback
	// address and :0 (all interfaces, any port) otherwise.
	Listen string
	// Advertise is the host:port peers dial to reach this executor. Default:
	// the bound address when it names a host; otherwise the IP of the
	// interface that routes to Master, with the bound port.
	Advertise string
	// Listener, if set, is used instead of binding Listen (the local
	// launcher hands rank 0 a socket it opened, so there is no port race).
	Listener net.Listener
	// Host names this executor in error messages. Default: os.Hostname.
	Host string
	// Token is the job secret every call must carry. Required when
	// WorldSize > 1.
	Token string
	// DefHash is DefinitionHash of the solver and net; rank 0 refuses
	// executors whose hash differs from its own.
	DefHash []byte
	// HeartbeatInterval is how often executors and rank 0 exchange beats
	// (default 1 s).
	HeartbeatInterval time.Duration
	// FailTimeout is how long a silent executor may stay silent before it is
	// declared lost (default 10 s, so a hung executor stops the job within
	// 15 s; a dead one is noticed as soon as its sockets close).
	FailTimeout time.Duration
	// RendezvousTimeout bounds the wait for all executors to register
	// (default 5 min: engines may start executors minutes apart).
	RendezvousTimeout time.Duration
	// OpTimeout bounds one collective operation, from its start on this
	// executor to its end (default 10 min). Heartbeats catch dead and hung
	// executors much sooner; this is the backstop for a live executor that
	// never enters the operation.
	OpTimeout time.Duration
	// ChunkBytes is the payload of one ring message (default 512 KiB,
	// minimum 4 KiB). Large enough to amortise per-message costs, small
	// enough that the ring pipelines a bucket over several messages.
	ChunkBytes int
	// BucketBytes is the Reducer's bucket size (default 2 MiB): gradients of
	// late layers are reduced in buckets of about this size while earlier
	// layers are still in their backward pass.
	BucketBytes int
	// Logf receives operational messages (refused connections, lost
	// executors). Default: the standard logger (stderr).
	Logf func(format string, args ...any)
	// TCPOnly disables the abstract unix socket every executor otherwise
	// also serves on (Linux): by default ring neighbours that share a host
	// and network namespace talk over it, which costs the kernel less than
	// TCP over loopback.
	TCPOnly bool
	// NoShm keeps collectives on gRPC even when every executor runs on
	// this host. By default such executors all-reduce through a file in
	// /dev/shm that they all map (see DataPlane), which costs a few memory
	// copies instead of gRPC framing and socket round trips. Any executor
	// with NoShm set turns it off for the whole job.
	NoShm bool
	// Engine names who started the executor ("local", "slurm", "mpi",
	// "k8s", "env", "flags"), for messages only.
	Engine string
	// RendezvousFile, if set and Master is empty, is a path on a shared file
	// system: rank 0 binds, then writes its address (and, when Token is
	// empty, a fresh token) there; the others wait for the file and read it.
	RendezvousFile string
}

func (c *Config) withDefaults() (Config, error) {
	d := *c
	if d.WorldSize <= 0 {
		d.WorldSize = 1
	}
	if d.Rank < 0 || d.Rank >= d.WorldSize {
		return d, fmt.Errorf("distri: rank %d out of range for world size %d", d.Rank, d.WorldSize)
	}
	if d.Host == "" {
		d.Host, _ = os.Hostname()
		if d.Host == "" {
			d.Host = "unknown-host"
		}
	}
	if d.HeartbeatInterval <= 0 {
		d.HeartbeatInterval = time.Second
	}
	if d.FailTimeout <= 0 {
		d.FailTimeout = 10 * time.Second
	}
	if d.FailTimeout < 2*d.HeartbeatInterval {
		d.FailTimeout = 2 * d.HeartbeatInterval
	}
	if d.RendezvousTimeout <= 0 {
		d.RendezvousTimeout = 5 * time.Minute
	}
	if d.OpTimeout <= 0 {
		d.OpTimeout = 10 * time.Minute
	}
	if d.ChunkBytes <= 0 {
		d.ChunkBytes = 512 << 10
	}
	if d.ChunkBytes < 4<<10 {
		d.ChunkBytes = 4 << 10
	}
	if d.ChunkBytes > 2<<20 {
		d.ChunkBytes = 2 << 20 // stay well below gRPC's 4 MiB message limit
	}
	d.ChunkBytes &^= 7 // whole float32 and float64 values
	if d.BucketBytes <= 0 {
		d.BucketBytes = 2 << 20
	}
	if d.Logf == nil {
		d.Logf = log.Printf
	}
	if d.Engine == "" {
		d.Engine = "flags"
	}
	if d.WorldSize > 1 {
		if d.Token == "" && d.RendezvousFile == "" {
			return d, fmt.Errorf("distri: no job token for rank %d of %d (set %s or %s)", d.Rank, d.WorldSize, EnvToken, EnvTokenFile)
		}
		if d.Master == "" && d.RendezvousFile == "" && !(d.Rank == 0 && d.Listener != nil) {
			return d, fmt.Errorf("distri: no master address for rank %d of %d (set %s, or %s on a shared file system)", d.Rank, d.WorldSize, EnvMaster, EnvRendezvousFile)
		}
	}
	return d, nil
}

// isLoopbackHost reports whether host (of a host:port) is a loopback IP or
// "localhost".
func isLoopbackHost(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// advertiseFor turns a bound address into one peers can dial.
func advertiseFor(bound net.Addr, master string) string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return bound.String()
	}
	ip := net.ParseIP(host)
	if ip != nil && !ip.IsUnspecified() {
		return bound.String()
	}
	if master != "" {
		// A UDP "dial" sends nothing; it only asks the kernel which local
		// address routes to the master, which is the one peers can reach.
		if conn, err := net.Dial("udp", master); err == nil {
			local := conn.LocalAddr().(*net.UDPAddr)
			conn.Close()
			if !local.IP.IsUnspecified() {
				return net.JoinHostPort(local.IP.String(), port)
			}
		}
	}
	h, _ := os.Hostname()
	return net.JoinHostPort(h, port)
}

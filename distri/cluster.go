package distri

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/cos-project/cos/distri/distripb"
)

// Peer is one executor of the job as the rendezvous recorded it.
type Peer struct {
	Rank int
	// Addr is where the executor serves (host:port).
	Addr string
	Host string
	PID  int
	// UnixAddr names the abstract unix socket the executor also serves on
	// ("" if none); peers in the same network namespace use it.
	UnixAddr string
}

// abortGrace is how long an executor that saw a ring connection break waits
// for rank 0's verdict before blaming its neighbour: when one executor dies
// its neighbours fail too, and a third executor should name the first one.
const abortGrace = time.Second

// Cluster is this executor's membership in a job: its rank, the peers, the
// gRPC server and the streams to its ring neighbours and to rank 0. Collective
// operations (AllReduce*, SumFloat64, Barrier) must be called in the same
// order with the same sizes on every executor; they are serialized
// internally.
type Cluster struct {
	cfg   Config
	rank  int
	size  int
	peers []Peer

	lis  net.Listener
	ulis net.Listener // abstract unix socket, nil if none
	srv  *grpc.Server
	// ringVia says how the ring stream to the successor travels ("tcp" or
	// "unix"), for tests and logs.
	ringVia string
	conns   map[string]*grpc.ClientConn
	ctx     context.Context // canceled on failure and at Close: ends ring streams
	cancel  context.CancelFunc

	failMu  sync.Mutex
	failErr error
	failed  chan struct{}

	closeOnce sync.Once
	closing   atomic.Bool
	closeErr  error

	coord *coordinator // rank 0 only

	// Heartbeats. Rank 0 tracks every rank; the others track rank 0 only.
	lastSeen  []atomic.Int64 // unix nanoseconds
	doneRank  []atomic.Bool  // the rank announced a normal shutdown
	hbMu      sync.Mutex
	hbStreams map[int]*hbServerStream // rank 0: stream to each rank
	hbClient  pb.Executor_HeartbeatClient
	hbSendMu  sync.Mutex // serializes sends on hbClient
	hbStop    chan struct{}
	ready     chan struct{} // closed once the peer list is known
	hbWG      sync.WaitGroup

	// Ring (see ring.go).
	opMu         sync.Mutex
	opSeq        uint64
	opTimer      *time.Timer
	ringIn       chan *rawChunk
	ringInErr    chan error
	inboundTaken atomic.Bool
	inboundEOF   chan struct{} // closed when the predecessor ends its stream
	ringOut      pb.Executor_RingClient
	sendQ        chan sendReq
	sendErr      chan error
	flushed      chan struct{}
	ackDone      chan struct{}
	senderDone   chan struct{}
	f32          f32buf
	f64          f64buf

	// Shared-memory plane (see shm.go); nil when collectives use the ring.
	shm    *shmPlane
	shmSeq uint64
}

type hbServerStream struct {
	mu sync.Mutex
	s  pb.Executor_HeartbeatServer
}

func (h *hbServerStream) send(b *pb.Beat) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Send(b)
}

// Rank is this executor's rank.
func (c *Cluster) Rank() int { return c.rank }

// WorldSize is the number of executors.
func (c *Cluster) WorldSize() int { return c.size }

// Peers lists all executors by rank (nil for a world of size 1).
func (c *Cluster) Peers() []Peer { return c.peers }

// Host is this executor's host name.
func (c *Cluster) Host() string { return c.cfg.Host }

// Addr is the address peers dial to reach this executor ("" for a world of
// size 1).
func (c *Cluster) Addr() string {
	if c.rank < len(c.peers) {
		return c.peers[c.rank].Addr
	}
	return ""
}

// Done is closed when the job has failed (see Err).
func (c *Cluster) Done() <-chan struct{} { return c.failed }

// Err returns the failure that stopped the job, or nil. A lost or failed
// peer is reported as a *PeerError.
func (c *Cluster) Err() error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failErr
}

func (c *Cluster) hostOf(rank int) string {
	if rank >= 0 && rank < len(c.peers) {
		return c.peers[rank].Host
	}
	return ""
}

func (c *Cluster) lost(rank int, format string, args ...any) *PeerError {
	return &PeerError{Rank: rank, Host: c.hostOf(rank), Lost: true, Reason: fmt.Sprintf(format, args...)}
}

// fail records the first failure, tells the other executors (rank 0
// broadcasts it, the others report it to rank 0) and cancels the ring so
// that blocked operations return.
func (c *Cluster) fail(err error) {
	c.failMu.Lock()
	if c.failErr != nil {
		c.failMu.Unlock()
		return
	}
	c.failErr = err
	close(c.failed)
	c.failMu.Unlock()
	if !c.closing.Load() {
		c.cfg.Logf("distri: rank %d (%s): %v", c.rank, c.cfg.Host, err)
	}
	ab := &pb.Abort{Rank: int32(c.rank), Host: c.cfg.Host, Reason: err.Error()}
	var pe *PeerError
	if errors.As(err, &pe) {
		ab = &pb.Abort{Rank: int32(pe.Rank), Host: pe.Host, Reason: pe.Reason}
		if pe.Lost {
			ab.Reason = "lost: " + pe.Reason
		}
	}
	beat := &pb.Beat{Rank: int32(c.rank), Abort: ab}
	if c.rank == 0 {
		c.hbMu.Lock()
		streams := make([]*hbServerStream, 0, len(c.hbStreams))
		for _, s := range c.hbStreams {
			streams = append(streams, s)
		}
		c.hbMu.Unlock()
		for _, s := range streams {
			go s.send(beat) // a hung peer must not block the others' notice
		}
	} else {
		go func() {
			c.hbSendMu.Lock()
			defer c.hbSendMu.Unlock()
			if c.hbClient != nil {
				c.hbClient.Send(beat)
			}
		}()
	}
	if c.cancel != nil {
		c.cancel()
	}
}

// Abort stops the job because of a local error: the other executors are
// told that this rank failed with err, and the cluster is closed.
func (c *Cluster) Abort(err error) {
	if c.size > 1 && err != nil {
		c.fail(err)
	}
	c.Close()
}

// suspect blames rank for a broken ring connection unless rank 0's verdict
// (which names the executor that failed first) arrives within abortGrace.
func (c *Cluster) suspect(rank int, format string, args ...any) error {
	t := time.NewTimer(abortGrace)
	defer t.Stop()
	select {
	case <-c.failed:
	case <-t.C:
		c.fail(c.lost(rank, format, args...))
	}
	return c.Err()
}

// Join makes this process an executor of the job cfg describes: it binds,
// serves, registers with rank 0 (rank 0 waits until all have registered),
// and connects the ring. With WorldSize 1 it returns a cluster whose
// collectives do nothing. The context bounds the rendezvous only.
func Join(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:    cfg,
		rank:   cfg.Rank,
		size:   cfg.WorldSize,
		failed: make(chan struct{}),
		hbStop: make(chan struct{}),
		ready:  make(chan struct{}),
	}
	if c.size == 1 {
		return c, nil
	}
	raisedProcs := false
	if runtime.GOMAXPROCS(0) == 1 {
		raisedProcs = true
		// An executor pinned to one core gets GOMAXPROCS 1, and then a ring
		// chunk that arrives while the compute goroutine runs waits for the
		// scheduler's 10 ms preemption before it is forwarded, stalling
		// every executor behind it. A second P lets the network goroutines
		// run at once (the kernel interleaves the two threads on the core).
		runtime.GOMAXPROCS(2)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.conns = map[string]*grpc.ClientConn{}
	c.lastSeen = make([]atomic.Int64, c.size)
	c.doneRank = make([]atomic.Bool, c.size)
	c.hbStreams = map[int]*hbServerStream{}
	c.ringIn = make(chan *rawChunk, 64)
	c.ringInErr = make(chan error, 1)
	c.sendQ = make(chan sendReq, sendQueueCap)
	c.sendErr = make(chan error, 1)
	c.flushed = make(chan struct{}, 1)
	c.ackDone = make(chan struct{})
	c.inboundEOF = make(chan struct{})
	c.senderDone = make(chan struct{})
	c.opTimer = time.NewTimer(time.Hour)
	c.opTimer.Stop()
	ok := false
	defer func() {
		if !ok {
			c.closing.Store(true)
			c.teardown()
		}
	}()

	if c.cfg.Master == "" && c.cfg.RendezvousFile != "" && c.rank != 0 {
		if err := c.readRendezvousFile(ctx); err != nil {
			return nil, err
		}
	}
	if c.cfg.Token == "" {
		if c.rank != 0 {
			return nil, fmt.Errorf("distri: no job token for rank %d", c.rank)
		}
		if c.cfg.Token, err = NewToken(); err != nil {
			return nil, err
		}
	}
	if err := c.listen(); err != nil {
		return nil, err
	}
	if c.rank == 0 && c.cfg.RendezvousFile != "" && cfg.Master == "" {
		if err := c.writeRendezvousFile(); err != nil {
			return nil, err
		}
	}
	if c.rank == 0 && !c.cfg.NoShm && shmSupported {
		// Before registering: once the others get the peer list, the file
		// exists. Failing here only means the job uses gRPC.
		c.shm, _ = shmCreate(shmPath(c.cfg.Token, c.cfg.Advertise), c.size)
	}

	tc := newTokenChecker(c.cfg.Token, c.cfg.Logf)
	c.srv = grpc.NewServer(
		grpc.UnaryInterceptor(tc.unary),
		grpc.StreamInterceptor(tc.stream),
		grpc.InitialWindowSize(windowSize),
		grpc.InitialConnWindowSize(2*windowSize),
		grpc.MaxRecvMsgSize(8<<20),
		grpc.WriteBufferSize(256<<10),
		grpc.ReadBufferSize(256<<10),
	)
	pb.RegisterExecutorServer(c.srv, &server{c: c})
	if c.rank == 0 {
		c.coord = newCoordinator(c.size, c.cfg.DefHash)
	}
	go c.srv.Serve(c.lis)
	if !c.cfg.TCPOnly && runtime.GOOS == "linux" {
		var rnd [12]byte
		rand.Read(rnd[:])
		name := "cos-" + hex.EncodeToString(rnd[:])
		if ulis, err := net.Listen("unix", "@"+name); err == nil {
			c.ulis = ulis
			go c.srv.Serve(ulis)
		}
	}

	rctx, rcancel := context.WithTimeout(ctx, c.cfg.RendezvousTimeout)
	defer rcancel()
	self := &pb.RegisterRequest{
		Rank: int32(c.rank), WorldSize: int32(c.size), Addr: c.cfg.Advertise,
		Host: c.cfg.Host, DefHash: c.cfg.DefHash, Pid: int32(os.Getpid()),
	}
	if c.ulis != nil {
		self.UnixAddr = strings.TrimPrefix(c.ulis.Addr().String(), "@")
	}
	var peers []*pb.Peer
	if c.rank == 0 {
		peers, err = c.coord.register(rctx, self)
		if err != nil {
			err = fmt.Errorf("distri: rank 0: %s", status.Convert(err).Message())
		}
	} else {
		var conn *grpc.ClientConn
		if conn, err = c.dial(c.cfg.Master); err != nil {
			return nil, err
		}
		var reply *pb.RegisterReply
		reply, err = pb.NewExecutorClient(conn).Register(rctx, self, grpc.WaitForReady(true))
		if err == nil {
			peers = reply.Peers
		} else if st, isStatus := status.FromError(err); isStatus {
			if st.Code() == codes.DeadlineExceeded {
				err = fmt.Errorf("distri: rank %d could not register with rank 0 at %s within %v (is rank 0 running? %v)", c.rank, c.cfg.Master, c.cfg.RendezvousTimeout, st.Message())
			} else {
				err = fmt.Errorf("distri: rank %d: rank 0 at %s refused registration: %s", c.rank, c.cfg.Master, st.Message())
			}
		}
	}
	if err != nil {
		return nil, err
	}
	c.peers = make([]Peer, len(peers))
	for i, p := range peers {
		c.peers[i] = Peer{Rank: int(p.Rank), Addr: p.Addr, Host: p.Host, PID: int(p.Pid), UnixAddr: p.UnixAddr}
	}
	now := time.Now().UnixNano()
	for i := range c.lastSeen {
		c.lastSeen[i].Store(now)
	}
	close(c.ready)
	if err := c.connectRing(rctx); err != nil {
		return nil, err
	}
	if err := c.startHeartbeats(rctx); err != nil {
		return nil, err
	}
	if err := c.setupShm(); err != nil {
		return nil, err
	}
	if raisedProcs && c.shm != nil {
		// Shared-memory collectives need no network goroutine to run
		// promptly: give the single core back to the computation alone.
		runtime.GOMAXPROCS(1)
	}
	ok = true
	return c, nil
}

// windowSize is the HTTP/2 flow-control window per stream: large enough to
// keep a 1–10 Gbit/s link busy across a few ring chunks in flight.
const windowSize = 4 << 20

func (c *Cluster) listen() error {
	if c.cfg.Listener != nil {
		c.lis = c.cfg.Listener
	} else {
		addr := c.cfg.Listen
		if addr == "" {
			switch {
			case c.rank == 0 && c.cfg.Master != "":
				if isLoopbackHost(c.cfg.Master) {
					addr = c.cfg.Master
				} else {
					_, port, err := net.SplitHostPort(c.cfg.Master)
					if err != nil {
						return fmt.Errorf("distri: master address %q: %v", c.cfg.Master, err)
					}
					addr = ":" + port
				}
			case c.cfg.Master == "" || isLoopbackHost(c.cfg.Master):
				addr = "127.0.0.1:0"
			default:
				addr = ":0"
			}
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("distri: rank %d cannot listen on %s: %v", c.rank, addr, err)
		}
		c.lis = lis
	}
	if c.cfg.Advertise == "" {
		if c.rank == 0 && c.cfg.Master != "" {
			c.cfg.Advertise = c.cfg.Master
		} else {
			c.cfg.Advertise = advertiseFor(c.lis.Addr(), c.cfg.Master)
		}
	}
	if c.rank == 0 && c.cfg.Master == "" {
		c.cfg.Master = c.cfg.Advertise
	}
	return nil
}

func (c *Cluster) dial(addr string) (*grpc.ClientConn, error) {
	if conn := c.conns[addr]; conn != nil {
		return conn, nil
	}
	opts := append(clientToken(c.cfg.Token),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(windowSize),
		grpc.WithInitialConnWindowSize(2*windowSize),
		grpc.WithWriteBufferSize(256<<10),
		grpc.WithReadBufferSize(256<<10),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20)),
	)
	target := "passthrough:///" + addr
	if name, ok := strings.CutPrefix(addr, "unix-abstract:"); ok {
		target = "unix-abstract:" + name
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("distri: rank %d: dialing %s: %v", c.rank, addr, err)
	}
	c.conns[addr] = conn
	return conn, nil
}

// writeRendezvousFile publishes rank 0's address and the job token on a
// shared path (mode 0600, written to a temporary name and renamed so that
// readers never see half a file).
func (c *Cluster) writeRendezvousFile() error {
	path := c.cfg.RendezvousFile
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	data := fmt.Sprintf("%s\n%s\n", c.cfg.Advertise, c.cfg.Token)
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return fmt.Errorf("distri: writing rendezvous file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("distri: writing rendezvous file: %w", err)
	}
	return nil
}

func (c *Cluster) readRendezvousFile(ctx context.Context) error {
	path := c.cfg.RendezvousFile
	deadline := time.Now().Add(c.cfg.RendezvousTimeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			var lines []string
			for sc.Scan() {
				lines = append(lines, strings.TrimSpace(sc.Text()))
			}
			if len(lines) < 2 || lines[0] == "" || lines[1] == "" {
				return fmt.Errorf("distri: rendezvous file %s is malformed (want the master address and the token on two lines)", path)
			}
			c.cfg.Master = lines[0]
			if c.cfg.Token == "" {
				c.cfg.Token = lines[1]
			}
			return nil
		}
		if !os.IsNotExist(err) {
			return fmt.Errorf("distri: reading rendezvous file: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("distri: rank %d: rendezvous file %s did not appear within %v (is rank 0 running, and is %s on a file system shared by all hosts?)", c.rank, path, c.cfg.RendezvousTimeout, filepath.Dir(path))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close ends the job normally on this executor: it finishes the ring stream
// (so the successor has received everything), tells rank 0 it is done (rank
// 0 waits, bounded, for everyone) and stops serving. It returns the job's
// failure, if any.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		if c.size == 1 {
			return
		}
		failed := c.Err() != nil
		if !failed {
			c.closeRing()
			// Tearing down while the predecessor is still in its last
			// operation would break its stream to us mid-operation: wait
			// (bounded) until it has closed that stream too.
			t := time.NewTimer(c.cfg.FailTimeout)
			select {
			case <-c.inboundEOF:
			case <-c.failed:
			case <-t.C:
			}
			t.Stop()
			c.closing.Store(true)
			if c.rank == 0 {
				c.waitAllDone()
			} else {
				c.hbSendMu.Lock()
				if c.hbClient != nil {
					c.hbClient.Send(&pb.Beat{Rank: int32(c.rank), Done: true})
				}
				c.hbSendMu.Unlock()
			}
		} else {
			c.closing.Store(true)
			// Give the failure notice a moment to reach the others before
			// the connections go.
			time.Sleep(200 * time.Millisecond)
		}
		c.teardown()
		c.closeErr = c.Err()
	})
	return c.closeErr
}

func (c *Cluster) waitAllDone() {
	deadline := time.Now().Add(c.cfg.FailTimeout)
	for time.Now().Before(deadline) {
		all := true
		for r := 1; r < c.size; r++ {
			if !c.doneRank[r].Load() {
				all = false
			}
		}
		if all || c.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.hbMu.Lock()
	for _, s := range c.hbStreams {
		s.send(&pb.Beat{Rank: 0, Done: true})
	}
	c.hbMu.Unlock()
}

func (c *Cluster) teardown() {
	select {
	case <-c.hbStop:
	default:
		close(c.hbStop)
	}
	if c.cancel != nil {
		c.cancel()
	}
	if c.srv != nil {
		c.srv.Stop() // closes both listeners
	} else if c.lis != nil {
		c.lis.Close()
	}
	for _, conn := range c.conns {
		if c.Err() != nil {
			// A hung peer stalls gRPC's close (it waits, up to seconds, to
			// send a GOAWAY): do not let it delay this executor's exit.
			go conn.Close()
		} else {
			conn.Close()
		}
	}
	c.hbWG.Wait()
	if s := c.shm; s != nil {
		if c.rank == 0 {
			s.unlink()
		}
		// An operation still running (it returns now that hbStop is
		// closed) must not touch unmapped memory; nor may the net, whose
		// param diffs may live in the mapping (shard.go) until its Reducer
		// is closed, which then unmaps it.
		go func() {
			c.opMu.Lock()
			if s.home == nil {
				s.unmap()
			}
			c.opMu.Unlock()
		}()
	}
	if c.rank == 0 && c.cfg.RendezvousFile != "" {
		os.Remove(c.cfg.RendezvousFile)
	}
}

// server implements the gRPC service on every executor.
type server struct {
	pb.UnimplementedExecutorServer
	c *Cluster
}

func (s *server) Register(ctx context.Context, req *pb.RegisterRequest) (*pb.RegisterReply, error) {
	if s.c.coord == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "rank %d is not the coordinator (rank 0 is)", s.c.rank)
	}
	peers, err := s.c.coord.register(ctx, req)
	if err != nil {
		return nil, err
	}
	return &pb.RegisterReply{Peers: peers}, nil
}

func (s *server) Heartbeat(stream pb.Executor_HeartbeatServer) error {
	c := s.c
	if c.rank != 0 {
		return status.Errorf(codes.FailedPrecondition, "rank %d is not the coordinator", c.rank)
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	select {
	case <-c.ready:
	case <-c.hbStop:
		return status.Error(codes.Unavailable, "shutting down")
	}
	r := int(first.Rank)
	if r <= 0 || r >= c.size {
		return status.Errorf(codes.InvalidArgument, "heartbeat from unknown rank %d", r)
	}
	hs := &hbServerStream{s: stream}
	c.hbMu.Lock()
	if c.hbStreams[r] != nil {
		c.hbMu.Unlock()
		return status.Errorf(codes.AlreadyExists, "rank %d already has a heartbeat stream", r)
	}
	c.hbStreams[r] = hs
	c.hbMu.Unlock()
	c.lastSeen[r].Store(time.Now().UnixNano())
	if err := c.Err(); err != nil {
		// The job failed before this executor connected: tell it now.
		c.notifyAbort(hs, err)
	}
	for {
		b, err := stream.Recv()
		if err != nil {
			if !c.doneRank[r].Load() && !c.closing.Load() {
				c.fail(c.lost(r, "heartbeat stream broke: %v", errText(err)))
			}
			<-c.hbStop // keep the stream open for a final notice
			return nil
		}
		c.lastSeen[r].Store(time.Now().UnixNano())
		if b.Abort != nil {
			c.fail(abortErr(b.Abort))
		}
		if b.Done {
			c.doneRank[r].Store(true)
		}
	}
}

func (c *Cluster) notifyAbort(hs *hbServerStream, err error) {
	var pe *PeerError
	ab := &pb.Abort{Rank: int32(c.rank), Host: c.cfg.Host, Reason: err.Error()}
	if errors.As(err, &pe) {
		ab = &pb.Abort{Rank: int32(pe.Rank), Host: pe.Host, Reason: pe.Reason}
	}
	go hs.send(&pb.Beat{Abort: ab})
}

func abortErr(a *pb.Abort) error {
	reason := a.Reason
	lost := strings.HasPrefix(reason, "lost: ")
	if lost {
		reason = strings.TrimPrefix(reason, "lost: ")
	}
	return &PeerError{Rank: int(a.Rank), Host: a.Host, Lost: lost, Reason: reason}
}

// errText shortens gRPC errors to their message.
func errText(err error) string {
	if err == io.EOF {
		return "connection closed"
	}
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

func (s *server) Ring(stream pb.Executor_RingServer) error {
	c := s.c
	md, _ := metadata.FromIncomingContext(stream.Context())
	from := -1
	if v := md.Get(rankKey); len(v) == 1 {
		if n, err := strconv.Atoi(v[0]); err == nil {
			from = n
		}
	}
	want := (c.rank - 1 + c.size) % c.size
	if from != want {
		return status.Errorf(codes.PermissionDenied, "rank %d accepts ring data only from rank %d, not from %d", c.rank, want, from)
	}
	if !c.inboundTaken.CompareAndSwap(false, true) {
		return status.Errorf(codes.AlreadyExists, "rank %d already has a ring stream from rank %d", c.rank, from)
	}
	for {
		m := chunkPool.Get().(*rawChunk)
		err := stream.RecvMsg(m)
		if err != nil {
			chunkPool.Put(m)
		}
		if err == io.EOF {
			close(c.inboundEOF)
			stream.Send(&pb.RingAck{})
			return nil
		}
		if err != nil {
			select {
			case c.ringInErr <- err:
			default:
			}
			return nil
		}
		select {
		case c.ringIn <- m:
		case <-c.failed:
			m.release()
			return status.Error(codes.Aborted, c.Err().Error())
		case <-c.hbStop:
			m.release()
			return nil
		}
	}
}

// chunkPool recycles received chunk headers (their data is gRPC's).
var chunkPool = sync.Pool{New: func() any { return new(rawChunk) }}

// coordinator is rank 0's rendezvous state.
type coordinator struct {
	mu    sync.Mutex
	size  int
	hash  []byte
	peers []*pb.Peer
	n     int
	done  chan struct{}
	err   error
}

func newCoordinator(size int, hash []byte) *coordinator {
	return &coordinator{size: size, hash: hash, peers: make([]*pb.Peer, size), done: make(chan struct{})}
}

func (co *coordinator) finish(err error) {
	if co.err == nil && err != nil {
		co.err = err
	}
	select {
	case <-co.done:
	default:
		close(co.done)
	}
}

func (co *coordinator) register(ctx context.Context, req *pb.RegisterRequest) ([]*pb.Peer, error) {
	co.mu.Lock()
	var refuse error
	switch {
	case int(req.WorldSize) != co.size:
		refuse = status.Errorf(codes.InvalidArgument, "rank %d on host %s says the world size is %d, but rank 0 has %d", req.Rank, req.Host, req.WorldSize, co.size)
	case req.Rank < 0 || int(req.Rank) >= co.size:
		refuse = status.Errorf(codes.InvalidArgument, "rank %d on host %s is out of range for world size %d", req.Rank, req.Host, co.size)
	case !bytes.Equal(req.DefHash, co.hash):
		refuse = status.Errorf(codes.FailedPrecondition, "rank %d on host %s has a different solver/net definition than rank 0 (definition hash %x, rank 0 has %x)", req.Rank, req.Host, short(req.DefHash), short(co.hash))
	case co.peers[req.Rank] != nil:
		p := co.peers[req.Rank]
		refuse = status.Errorf(codes.AlreadyExists, "rank %d registered twice: by host %s (%s, pid %d) and by host %s (%s, pid %d)", req.Rank, p.Host, p.Addr, p.Pid, req.Host, req.Addr, req.Pid)
	}
	if refuse != nil {
		// The job cannot run without a consistent set of executors: the
		// whole rendezvous fails, and everyone waiting hears why.
		co.finish(fmt.Errorf("rendezvous failed: %s", status.Convert(refuse).Message()))
		co.mu.Unlock()
		return nil, refuse
	}
	co.peers[req.Rank] = &pb.Peer{Rank: req.Rank, Addr: req.Addr, Host: req.Host, Pid: req.Pid, UnixAddr: req.UnixAddr}
	co.n++
	if co.n == co.size {
		co.finish(nil)
	}
	co.mu.Unlock()

	select {
	case <-co.done:
	case <-ctx.Done():
		co.mu.Lock()
		missing := []string{}
		for r, p := range co.peers {
			if p == nil {
				missing = append(missing, strconv.Itoa(r))
			}
		}
		co.mu.Unlock()
		return nil, status.Errorf(codes.DeadlineExceeded, "rendezvous timed out waiting for rank(s) %s", strings.Join(missing, ","))
	}
	if co.err != nil {
		return nil, status.Error(codes.Aborted, co.err.Error())
	}
	return co.peers, nil
}

func short(h []byte) []byte {
	if len(h) > 6 {
		return h[:6]
	}
	return h
}

// startHeartbeats connects rank ≠ 0 to rank 0 and starts the beat and
// watchdog loop on every rank.
func (c *Cluster) startHeartbeats(ctx context.Context) error {
	if c.rank != 0 {
		conn, err := c.dial(c.cfg.Master)
		if err != nil {
			return err
		}
		st, err := pb.NewExecutorClient(conn).Heartbeat(c.ctx, grpc.WaitForReady(true))
		if err != nil {
			return fmt.Errorf("distri: rank %d: heartbeat stream to rank 0: %v", c.rank, errText(err))
		}
		if err := st.Send(&pb.Beat{Rank: int32(c.rank)}); err != nil {
			return fmt.Errorf("distri: rank %d: heartbeat stream to rank 0: %v", c.rank, errText(err))
		}
		c.hbSendMu.Lock()
		c.hbClient = st
		c.hbSendMu.Unlock()
		c.hbWG.Add(1)
		go func() {
			defer c.hbWG.Done()
			for {
				b, err := st.Recv()
				if err != nil {
					if !c.doneRank[0].Load() && !c.closing.Load() {
						c.fail(c.lost(0, "heartbeat stream broke: %v", errText(err)))
					}
					return
				}
				c.lastSeen[0].Store(time.Now().UnixNano())
				if b.Abort != nil {
					c.fail(abortErr(b.Abort))
				}
				if b.Done {
					c.doneRank[0].Store(true)
				}
			}
		}()
	}
	c.hbWG.Add(1)
	go c.beatLoop()
	return nil
}

func (c *Cluster) beatLoop() {
	defer c.hbWG.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	beat := &pb.Beat{Rank: int32(c.rank)}
	for {
		select {
		case <-c.hbStop:
			return
		case <-c.failed:
			return
		case <-t.C:
		}
		if c.closing.Load() {
			continue
		}
		now := time.Now().UnixNano()
		if c.rank == 0 {
			c.hbMu.Lock()
			for _, s := range c.hbStreams {
				go s.send(beat)
			}
			c.hbMu.Unlock()
			for r := 1; r < c.size; r++ {
				if c.doneRank[r].Load() {
					continue
				}
				if silent := time.Duration(now - c.lastSeen[r].Load()); silent > c.cfg.FailTimeout {
					c.fail(c.lost(r, "no heartbeat for %v (hung or unreachable)", silent.Round(time.Millisecond)))
				}
			}
		} else {
			go func() {
				c.hbSendMu.Lock()
				defer c.hbSendMu.Unlock()
				c.hbClient.Send(beat)
			}()
			if silent := time.Duration(now - c.lastSeen[0].Load()); silent > c.cfg.FailTimeout && !c.doneRank[0].Load() {
				c.fail(c.lost(0, "no heartbeat for %v (hung or unreachable)", silent.Round(time.Millisecond)))
			}
		}
	}
}

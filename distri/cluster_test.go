package distri

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cos-project/cos/distri/distripb"
	"github.com/cos-project/cos/layers"
	cnet "github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// logBuf collects Logf lines so tests can check what was logged.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logBuf) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestTokenRefused(t *testing.T) {
	var logs logBuf
	cs := startLocal(t, 2, func(c *Config) {
		if c.Rank == 0 {
			c.Logf = logs.logf
		}
	})
	for _, tc := range []struct{ name, token string }{{"none", ""}, {"wrong", "not-the-token"}, {"prefix", testToken[:5]}} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []grpc.DialOption
			opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if tc.token != "" {
				opts = append(opts, clientToken(tc.token)...)
			}
			conn, err := grpc.NewClient("passthrough:///"+cs[0].Addr(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cl := pb.NewExecutorClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// Joining.
			_, err = cl.Register(ctx, &pb.RegisterRequest{Rank: 1, WorldSize: 2, Addr: "127.0.0.1:1", Host: "intruder", DefHash: []byte("same")})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Register without a valid token: got %v, want Unauthenticated", err)
			}
			// Pushing gradients into rank 1's ring, claiming to be rank 0.
			conn1, _ := grpc.NewClient("passthrough:///"+cs[1].Addr(), opts...)
			defer conn1.Close()
			sctx := metadata.AppendToOutgoingContext(ctx, rankKey, "0")
			st, err := pb.NewExecutorClient(conn1).Ring(sctx)
			if err == nil {
				st.Send(&pb.Chunk{Op: 1, Data: make([]byte, 16)})
				_, err = st.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Ring without a valid token: got %v, want Unauthenticated", err)
			}
			// Heartbeat stream too (a forged abort must not stop the job).
			hb, err := cl.Heartbeat(ctx)
			if err == nil {
				hb.Send(&pb.Beat{Rank: 1, Abort: &pb.Abort{Rank: 1, Reason: "forged"}})
				_, err = hb.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Heartbeat without a valid token: got %v, want Unauthenticated", err)
			}
		})
	}
	if !logs.has("refused /cos.distri.Executor/Register from 127.0.0.1:") {
		t.Errorf("refusal not logged with the peer address; log: %q", logs.lines)
	}
	// The job is unharmed: a collective still works.
	bufs := [][]float32{{1, 2}, {3, 4}}
	runAll(t, cs, func(r int, c *Cluster) error { return c.AllReduceMean(bufs[r]) })
	if bufs[1][0] != 2 || bufs[1][1] != 3 {
		t.Fatalf("after refused intruders: %v", bufs[1])
	}
	if err := cs[0].Err(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
}

// joinAll runs Join for every config concurrently, then closes them all.
func joinAll(cfgs []Config) ([]*Cluster, []error) {
	cs := make([]*Cluster, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cs[i], errs[i] = Join(ctx, cfg)
		}()
	}
	wg.Wait()
	closeAll(cs)
	return cs, errs
}

func TestRendezvousRefusals(t *testing.T) {
	tests := []struct {
		name string
		mod  func(r int, c *Config)
		// want is the error some refused executor must report.
		want string
	}{
		{"hash mismatch", func(r int, c *Config) {
			if r == 2 {
				c.DefHash = []byte("other")
			}
		}, "rank 2 on host host2 has a different solver/net definition"},
		{"duplicate rank", func(r int, c *Config) {
			if r == 2 {
				c.Rank = 1
			}
		}, "rank 1 registered twice"},
		{"world size", func(r int, c *Config) {
			if r == 1 {
				c.WorldSize = 4
			}
		}, "rank 1 on host host1 says the world size is 4, but rank 0 has 3"},
		{"wrong token", func(r int, c *Config) {
			if r == 1 {
				c.Token = "bad"
			}
		}, "wrong job token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfgs := make([]Config, 3)
			for r := range cfgs {
				cfgs[r] = Config{Rank: r, WorldSize: 3, Master: lis.Addr().String(), Token: testToken,
					DefHash: []byte("same"), Host: fmt.Sprintf("host%d", r), Logf: t.Logf, RendezvousTimeout: 2 * time.Second}
				if r == 0 {
					cfgs[r].Listener = lis
				}
				tc.mod(r, &cfgs[r])
			}
			_, errs := joinAll(cfgs)
			matched := false
			for r, err := range errs {
				if err == nil {
					t.Errorf("rank %d joined a job whose rendezvous should fail", r)
					continue
				}
				if strings.Contains(err.Error(), tc.want) {
					matched = true
				}
				t.Logf("rank %d: %v", r, err)
			}
			if !matched {
				t.Errorf("no executor reported %q", tc.want)
			}
		})
	}
}

func TestDefinitionHash(t *testing.T) {
	base := func() (*caffepb.SolverParameter, *caffepb.NetParameter) {
		sp := &caffepb.SolverParameter{BaseLr: proto.Float32(0.01), Net: proto.String("/a/lenet.prototxt")}
		np := &caffepb.NetParameter{Name: proto.String("LeNet"), Layer: []*caffepb.LayerParameter{
			{Name: proto.String("ip"), Type: proto.String("InnerProduct"),
				InnerProductParam: &caffepb.InnerProductParameter{NumOutput: proto.Uint32(10)}}}}
		return sp, np
	}
	hash := func(sp *caffepb.SolverParameter, np *caffepb.NetParameter) string {
		h, err := DefinitionHash(sp, np)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h)
	}
	sp, np := base()
	ref := hash(sp, np)
	tests := []struct {
		name string
		mod  func(*caffepb.SolverParameter, *caffepb.NetParameter)
		same bool
	}{
		{"identical", func(*caffepb.SolverParameter, *caffepb.NetParameter) {}, true},
		{"net file path", func(s *caffepb.SolverParameter, _ *caffepb.NetParameter) { s.Net = proto.String("/b/lenet.prototxt") }, true},
		{"learning rate", func(s *caffepb.SolverParameter, _ *caffepb.NetParameter) { s.BaseLr = proto.Float32(0.02) }, false},
		{"num_output", func(_ *caffepb.SolverParameter, n *caffepb.NetParameter) {
			n.Layer[0].InnerProductParam.NumOutput = proto.Uint32(11)
		}, false},
		{"net moved into solver", func(s *caffepb.SolverParameter, n *caffepb.NetParameter) { s.NetParam = n }, false},
	}
	for _, tc := range tests {
		sp, np := base()
		tc.mod(sp, np)
		if got := hash(sp, np); (got == ref) != tc.same {
			t.Errorf("%s: hash equal = %v, want %v", tc.name, got == ref, tc.same)
		}
	}
}

// TestReducerMatchesAllReduce checks that bucketed, overlapped reduction
// gives the plain all-reduce's result, bit-identical on every executor,
// over several iterations (the first builds the layout, later ones reuse
// it).
func TestReducerMatchesAllReduce(t *testing.T) {
	for _, plane := range []string{"shm", "ring"} {
		if plane == "shm" && !shmSupported {
			continue
		}
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/world%d", plane, n), func(t *testing.T) { testReducer(t, n, plane) })
		}
	}
}

func testReducer(t *testing.T, n int, plane string) {
	{
		{
			cs := startLocal(t, n, func(c *Config) { c.NoShm = plane != "shm" })
			if got := cs[0].DataPlane(); (got == "shm") != (plane == "shm") {
				t.Fatalf("data plane %q, want %s", got, plane)
			}
			shapes := [][]int{{20, 1, 5, 5}, {20}, {50, 20, 5, 5}, {50}, {500, 800}, {500}, {10, 500}, {10}, {3}}
			params := make([][]*cnet.Param, n)
			for r := range params {
				for i, s := range shapes {
					b := layers.NewBlob(s...)
					b.Name = fmt.Sprintf("p%d", i)
					params[r] = append(params[r], &cnet.Param{Blob: b})
				}
			}
			reducers := make([]*Reducer, n)
			for r := range reducers {
				reducers[r] = cs[r].NewReducer(64 << 10) // several buckets
			}
			for iter := 0; iter < 3; iter++ {
				want := make([][]float32, n) // per rank: the concatenated diffs
				for r := 0; r < n; r++ {
					rng := rand.New(rand.NewPCG(uint64(r), uint64(iter)))
					for _, p := range params[r] {
						for i := range p.Blob.Diff {
							p.Blob.Diff[i] = float32(rng.NormFloat64())
						}
						want[r] = append(want[r], p.Blob.Diff...)
					}
				}
				runAll(t, cs, func(r int, c *Cluster) error { return c.AllReduceMean(want[r]) })
				runAll(t, cs, func(r int, c *Cluster) error {
					ps := params[r]
					// Backward order: last layer first, in uneven groups.
					for i := len(ps); i > 0; i -= 2 {
						reducers[r].ParamsReady(ps[max(0, i-2):i])
					}
					return reducers[r].Wait()
				})
				for r := 0; r < n; r++ {
					k := 0
					for pi, p := range params[r] {
						for i, v := range p.Blob.Diff {
							w := want[0][k]
							if math.Abs(float64(v-w)) > 1e-6*(1+math.Abs(float64(w))) {
								t.Fatalf("iter %d rank %d %s[%d] = %v, plain all-reduce gives %v", iter, r, p.Blob.Name, i, v, w)
							}
							if math.Float32bits(v) != math.Float32bits(params[0][pi].Blob.Diff[i]) {
								t.Fatalf("iter %d: rank %d differs from rank 0 at %s[%d]", iter, r, p.Blob.Name, i)
							}
							k++
						}
					}
				}
			}
			// Test outputs go through the same reducer.
			sums := make([][]float64, n)
			for r := range sums {
				sums[r] = []float64{float64(r + 1)}
			}
			runAll(t, cs, func(r int, c *Cluster) error { return reducers[r].SumFloat64(sums[r]) })
			if want := float64(n * (n + 1) / 2); sums[n-1][0] != want {
				t.Fatalf("SumFloat64 = %v, want %v", sums[n-1][0], want)
			}
			for _, rd := range reducers {
				rd.Close()
			}
		}
	}
}

func TestWorldOfOne(t *testing.T) {
	c, err := Join(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	buf := []float32{1, 2, 3}
	if err := c.AllReduceMean(buf); err != nil || buf[2] != 3 {
		t.Fatalf("AllReduceMean on one executor: %v %v", buf, err)
	}
	r := c.NewReducer(0)
	b := layers.NewBlob(3)
	b.Diff[0] = 5
	r.ParamsReady([]*cnet.Param{{Blob: b}})
	if err := r.Wait(); err != nil || b.Diff[0] != 5 {
		t.Fatalf("no-op reducer changed the diff or failed: %v %v", b.Diff, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRendezvousFile: no master address and no token, as under mpirun:
// rank 0 publishes both in a file the others read.
func TestRendezvousFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rendezvous")
	cs := make([]*Cluster, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for r := range cs {
		cfg := Config{Rank: r, WorldSize: 3, RendezvousFile: path, Listen: "127.0.0.1:0", Logf: t.Logf, RendezvousTimeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[r], errs[r] = Join(context.Background(), cfg)
		}()
	}
	wg.Wait()
	defer closeAll(cs)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("rendezvous file mode %v, want 0600 (it holds the token)", st.Mode().Perm())
	}
	bufs := [][]float32{{1}, {2}, {6}}
	runAll(t, cs, func(r int, c *Cluster) error { return c.AllReduceMean(bufs[r]) })
	if bufs[2][0] != 3 {
		t.Fatalf("mean = %v, want 3", bufs[2][0])
	}
	closeAll(cs)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("rendezvous file left behind after the job: %v", err)
	}
}

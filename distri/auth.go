package distri

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// tokenKey is the gRPC metadata entry carrying the job token.
const tokenKey = "cos-job-token"

// rankKey is the gRPC metadata entry carrying the caller's rank on Ring
// streams, so the receiver can check the stream comes from its predecessor.
const rankKey = "cos-rank"

// NewToken returns a fresh random job token (32 bytes from crypto/rand, hex).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating job token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ReadTokenFile reads a job token from a file (surrounding white space is
// ignored). It refuses an empty file, so a missing secret is not mistaken
// for an empty token.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading job token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("job token file %s is empty", path)
	}
	return t, nil
}

// tokenChecker holds the expected token's digest: comparing digests of equal
// length in constant time reveals neither the token nor its length.
type tokenChecker struct {
	want [32]byte
	logf func(format string, args ...any)
}

func newTokenChecker(token string, logf func(string, ...any)) *tokenChecker {
	return &tokenChecker{want: sha256.Sum256([]byte(token)), logf: logf}
}

func (t *tokenChecker) check(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(tokenKey)
	ok := false
	if len(vals) == 1 {
		got := sha256.Sum256([]byte(vals[0]))
		ok = subtle.ConstantTimeCompare(got[:], t.want[:]) == 1
	}
	if ok {
		return nil
	}
	addr := "unknown address"
	if p, found := peer.FromContext(ctx); found && p.Addr != nil {
		addr = p.Addr.String()
	}
	why := "wrong job token"
	if len(vals) == 0 {
		why = "no job token"
	}
	t.logf("distri: refused %s from %s: %s", method, addr, why)
	return status.Errorf(codes.Unauthenticated, "cos: %s: %s", method, why)
}

func (t *tokenChecker) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := t.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (t *tokenChecker) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := t.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// clientToken returns dial options that attach the token to every call.
func clientToken(token string) []grpc.DialOption {
	add := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, tokenKey, token)
	}
	return []grpc.DialOption{
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return inv(add(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, st grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return st(add(ctx), desc, cc, method, opts...)
		}),
	}
}

package cri_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/critest"
	"github.com/berth-dev/berth/internal/cri/fakecri"
)

// fakeServer serves a fake runtime on a unix socket in a short /tmp dir.
type fakeServer struct {
	fake *fakecri.Runtime
	sock string
	srv  *grpc.Server
}

func serveFake(t *testing.T, f *fakecri.Runtime) *fakeServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &fakeServer{fake: f, sock: filepath.Join(dir, "cri.sock")}
	s.start(t)
	t.Cleanup(func() { s.srv.Stop() })
	return s
}

func (s *fakeServer) start(t *testing.T) {
	t.Helper()
	os.Remove(s.sock)
	lis, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = fakecri.NewServer(s.fake)
	go func() { _ = s.srv.Serve(lis) }()
}

func dial(t *testing.T, endpoint string) *cri.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cri.Dial(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClientConformance runs the suite through the real client, gRPC and
// the fake: codes and messages survive the trip and are mapped once.
func TestClientConformance(t *testing.T) {
	critest.Run(t, func(t *testing.T) (cri.Runtime, string) {
		f := fakecri.New()
		f.AddImage(testImage)
		f.MissingExecutable(critest.MissingCommand)
		s := serveFake(t, f)
		return dial(t, "unix://"+s.sock), testImage
	})
}

func TestErrorMapping(t *testing.T) {
	f := fakecri.New()
	s := serveFake(t, f)
	c := dial(t, s.sock) // a bare path works too
	for _, tc := range []struct {
		code    codes.Code
		is      error
		wantStr string
	}{
		{codes.NotFound, cri.ErrNotFound, "not found: runtime says"},
		{codes.AlreadyExists, cri.ErrAlreadyExists, "already exists: runtime says"},
		{codes.Unavailable, cri.ErrUnavailable, "runtime unavailable: runtime says"},
		{codes.Unimplemented, cri.ErrUnimplemented, "not implemented: runtime says"},
		{codes.DeadlineExceeded, cri.ErrDeadline, "deadline exceeded: runtime says"},
		{codes.Unknown, nil, "runtime says"},
		{codes.Internal, nil, "runtime says"},
	} {
		f.InjectErrorOnce("ContainerStatus", cri.NewError(tc.code, "runtime says"))
		_, err := c.ContainerStatus(callCtx(t), "x")
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%v: %v is not %v", tc.code, err, tc.is)
		}
		for _, typed := range []error{cri.ErrNotFound, cri.ErrAlreadyExists, cri.ErrUnavailable, cri.ErrUnimplemented, cri.ErrDeadline} {
			if typed != tc.is && errors.Is(err, typed) {
				t.Errorf("%v: %v is also %v", tc.code, err, typed)
			}
		}
		if err.Error() != tc.wantStr || cri.Message(err) != "runtime says" || cri.Code(err) != tc.code {
			t.Errorf("%v: %q (message %q, code %v), want %q", tc.code, err, cri.Message(err), cri.Code(err), tc.wantStr)
		}
		if strings.Contains(err.Error(), "rpc error") {
			t.Errorf("%v: gRPC's wrapping leaks: %q", tc.code, err)
		}
	}

	// The exact StartError message reaches the caller.
	f.AddImage(testImage)
	f.MissingExecutable("nosuchcmd")
	sc := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}}
	sb, err := c.RunPodSandbox(callCtx(t), sc, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateContainer(callCtx(t), sb, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: testImage}, Command: []string{"nosuchcmd"},
	}, sc)
	if err != nil {
		t.Fatal(err)
	}
	err = c.StartContainer(callCtx(t), id)
	if want := `exec: "nosuchcmd": executable file not found in $PATH`; !strings.Contains(cri.Message(err), want) || cri.Code(err) != codes.Unknown {
		t.Errorf("StartContainer = %v, want a message with %q", err, want)
	}

	// A caller's deadline is ErrDeadline and context.DeadlineExceeded.
	f.ScriptPull("slow:1", fakecri.PullScript{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.PullImage(ctx, &runtimeapi.ImageSpec{Image: "slow:1"}, nil, nil)
	if !errors.Is(err, cri.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("pull past the deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Version(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
}

// TestIdempotentNotFound: a runtime that answers NotFound to the
// idempotent calls (CRI-O, older containerd) still gives success.
func TestIdempotentNotFound(t *testing.T) {
	f := fakecri.New()
	s := serveFake(t, f)
	c := dial(t, s.sock)
	notFound := cri.NewError(codes.NotFound, "gone")
	for _, m := range []string{"StopPodSandbox", "RemovePodSandbox", "RemoveContainer", "RemoveImage", "ImageStatus"} {
		f.InjectError(m, notFound)
	}
	f.InjectError("StopContainer", notFound)
	ctx := callCtx(t)
	if err := c.StopPodSandbox(ctx, "x"); err != nil {
		t.Errorf("StopPodSandbox: %v", err)
	}
	if err := c.RemovePodSandbox(ctx, "x"); err != nil {
		t.Errorf("RemovePodSandbox: %v", err)
	}
	if err := c.RemoveContainer(ctx, "x"); err != nil {
		t.Errorf("RemoveContainer: %v", err)
	}
	if err := c.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: "x"}); err != nil {
		t.Errorf("RemoveImage: %v", err)
	}
	if img, err := c.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: "x"}); img != nil || err != nil {
		t.Errorf("ImageStatus: %v, %v", img, err)
	}
	if err := c.StopContainer(ctx, "x", time.Second); !errors.Is(err, cri.ErrNotFound) {
		t.Errorf("StopContainer keeps NotFound: %v", err)
	}
	// Other errors are not swallowed.
	f.InjectError("RemoveContainer", cri.NewError(codes.Unknown, "device busy"))
	if err := c.RemoveContainer(ctx, "x"); err == nil || cri.Message(err) != "device busy" {
		t.Errorf("RemoveContainer: %v", err)
	}
}

// TestTimeoutsInSeconds: CRI timeouts are whole seconds, rounded up.
func TestTimeoutsInSeconds(t *testing.T) {
	f := fakecri.New()
	s := serveFake(t, f)
	c := dial(t, s.sock)
	for _, d := range []time.Duration{0, -time.Second, time.Millisecond, time.Second, 1500 * time.Millisecond, 30 * time.Second} {
		_ = c.StopContainer(callCtx(t), "x", d)
		_, _ = c.ExecSync(callCtx(t), "x", []string{"true"}, d)
	}
	var stops, execs []time.Duration
	for _, call := range f.Calls() {
		switch call.Method {
		case "StopContainer":
			stops = append(stops, call.Timeout)
		case "ExecSync":
			execs = append(execs, call.Timeout)
		}
	}
	want := []time.Duration{0, 0, time.Second, time.Second, 2 * time.Second, 30 * time.Second}
	if !equal(stops, want) || !equal(execs, want) {
		t.Errorf("timeouts sent: stop %v exec %v, want %v", stops, execs, want)
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDial(t *testing.T) {
	ctx := callCtx(t)
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	t0 := time.Now()
	_, err = cri.Dial(ctx, "unix://"+filepath.Join(dir, "absent.sock"))
	if !errors.Is(err, cri.ErrUnavailable) || !strings.Contains(err.Error(), "absent.sock") {
		t.Errorf("Dial(no socket) = %v, want ErrUnavailable naming the endpoint", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Dial(no socket) took %v, want it to fail fast", d)
	}
	for _, ep := range []string{"tcp://127.0.0.1:1234", "", "unix://"} {
		if _, err := cri.Dial(ctx, ep); err == nil {
			t.Errorf("Dial(%q) succeeded", ep)
		}
	}

	// A server that does not serve CRI v1.
	sock := filepath.Join(dir, "empty.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	if _, err := cri.Dial(ctx, sock); !errors.Is(err, cri.ErrUnimplemented) {
		t.Errorf("Dial(not CRI) = %v, want ErrUnimplemented", err)
	}
}

// TestRuntimeRestart: while the runtime is down calls fail at once with
// ErrUnavailable (they do not hang until the deadline), and the same
// Client works again once the runtime is back.
func TestRuntimeRestart(t *testing.T) {
	f := fakecri.New()
	s := serveFake(t, f)
	c := dial(t, s.sock)
	if _, err := c.Version(callCtx(t)); err != nil {
		t.Fatal(err)
	}
	s.srv.Stop()
	os.Remove(s.sock)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		_, err := c.Version(ctx)
		if !errors.Is(err, cri.ErrUnavailable) {
			t.Fatalf("call %d while down: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(t0); d > 6*time.Second {
			t.Errorf("call %d while down took %v", i, d)
		}
	}

	s.start(t)
	t0 := time.Now()
	for {
		_, err := c.Version(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, cri.ErrUnavailable) {
			t.Fatalf("while reconnecting: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the client never reconnected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("reconnecting took %v (back-off is capped at 3 s)", d)
	}
}

func TestMessageSize(t *testing.T) {
	f := fakecri.New()
	s := serveFake(t, f)
	c := dial(t, s.sock)
	big := make([]byte, 8<<20) // above gRPC's 4 MiB default, within 16 MiB
	f.ScriptExec("", []string{"cat", "big"}, cri.ExecResult{Stdout: big}, nil)
	f.AddImage(testImage)
	sc := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}}
	sb, _ := c.RunPodSandbox(callCtx(t), sc, "")
	id, _ := c.CreateContainer(callCtx(t), sb, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: testImage}, Command: []string{"sleep", "100"},
	}, sc)
	if err := c.StartContainer(callCtx(t), id); err != nil {
		t.Fatal(err)
	}
	r, err := c.ExecSync(callCtx(t), id, []string{"cat", "big"}, 0)
	if err != nil || len(r.Stdout) != len(big) {
		t.Errorf("8 MiB exec output: %d bytes, %v", len(r.Stdout), err)
	}
}

// wedged answers Version and never answers anything else.
type wedged struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (wedged) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "wedged", RuntimeApiVersion: "v1"}, nil
}

func (wedged) ContainerStatus(ctx context.Context, _ *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestWedgedRuntimeDeadline: a call without a deadline of its own still
// ends (ErrDeadline) when the runtime accepts it and never answers.
func TestWedgedRuntimeDeadline(t *testing.T) {
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "cri.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, wedged{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	c := dial(t, sock)
	c.SetRequestTimeout(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := c.ContainerStatus(context.Background(), "x")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, cri.ErrDeadline) {
			t.Errorf("err %v, want ErrDeadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call to a wedged runtime hangs without a deadline")
	}
}

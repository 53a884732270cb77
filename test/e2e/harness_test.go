// Package e2e runs the built berth binary and drives it with the real
// kubectl, asserting what a Kubernetes user sees. Each top-level test owns
// its servers (own data dir, own port), so tests may run in parallel.
//
// BERTH_BIN=path skips the build and uses that binary. The package is
// skipped when kubectl is not on PATH, and fails then in CI (CI=true).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/testutil/ci"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	berthBin   string // the binary under test
	skipReason string // non-empty: every test skips with this message
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := exec.LookPath("kubectl"); err != nil {
		skipReason = "kubectl is not on PATH: the e2e tests drive the real kubectl (install kubectl >= 1.32, or run `scripts/install-tools.sh kubectl` and put bin/tools on PATH)"
		if os.Getenv("CI") == "true" {
			// In CI a missing kubectl must fail the suite, not pass it by skipping.
			fmt.Fprintln(os.Stderr, "test/e2e: FAIL:", skipReason)
			return 1
		}
		fmt.Fprintln(os.Stderr, "test/e2e: skipping:", skipReason)
		return m.Run()
	}
	if bin := os.Getenv("BERTH_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "test/e2e: BERTH_BIN:", err)
			return 1
		}
		berthBin = abs
		return m.Run()
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		fmt.Fprintln(os.Stderr, "test/e2e: cannot locate the test file to find the repository root")
		return 1
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "test/e2e: go build ./cmd/berth failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// server is one `berth server` process (restartable on the same data dir).
type server struct {
	t        testing.TB
	dataDir  string
	args     []string
	cacheDir string
	agent    bool // runs the node agent (no --disable-agent)

	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
	starts  int

	kubeconfig string
	url        string

	mu      sync.Mutex
	secrets []string // values that must never appear in kubectl output or logs
	leaks   []string // commands whose output contained one of them
	noSA    string   // set once a default ServiceAccount never appeared: later waits fail fast
}

// startServer starts `berth server` on dataDir and waits for its kubeconfig.
func startServer(t *testing.T, dataDir string, extraArgs ...string) *server {
	t.Helper()
	return startServerWith(t, dataDir, false, extraArgs...)
}

// startServerWith starts `berth server`; withAgent runs the node agent
// (and containerd) too instead of passing --disable-agent.
func startServerWith(t *testing.T, dataDir string, withAgent bool, extraArgs ...string) *server {
	t.Helper()
	if skipReason != "" {
		ci.Skipf(t, "%s", skipReason)
	}
	s := &server{
		agent:    withAgent,
		t:        t,
		dataDir:  dataDir,
		args:     extraArgs,
		cacheDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if s.running() {
			_, _ = s.stop(syscall.SIGTERM)
		}
		s.mu.Lock()
		leaks := append([]string(nil), s.leaks...)
		s.mu.Unlock()
		for _, l := range leaks {
			t.Errorf("a secret value appeared in the output of: %s", l)
		}
		s.checkLogsForSecrets(t)
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	s.start(t)
	return s
}

func (s *server) start(t testing.TB) {
	t.Helper()
	s.starts++
	// The kubeconfig is the readiness signal; a stale one from the previous
	// run must not be mistaken for it.
	kubeconfig := filepath.Join(s.dataDir, "kubeconfig")
	if err := os.Remove(kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	logDir := s.cacheDir
	s.logPath = filepath.Join(logDir, fmt.Sprintf("berth-server-%d.log", s.starts))
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"server", "--data-dir", s.dataDir, "--listen", "127.0.0.1:0"}
	if !s.agent {
		args = append(args, "--disable-agent")
	}
	args = append(args, s.args...)
	cmd := exec.Command(berthBin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start berth server: %v", err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() {
		err := cmd.Wait()
		logFile.Close()
		s.waitErr = err
		close(done)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(kubeconfig); err == nil && len(b) > 0 {
			m := regexp.MustCompile(`(?m)^\s*server:\s*(\S+)\s*$`).FindSubmatch(b)
			if m != nil {
				s.kubeconfig = kubeconfig
				s.url = string(m[1])
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("berth server %v exited before writing %s: %v\n%s", args, kubeconfig, s.waitErr, s.readLog(s.logPath))
		default:
		}
		if time.Now().After(deadline) {
			_, _ = s.stop(syscall.SIGKILL)
			t.Fatalf("berth server %v: %s did not appear within 60s\n%s", args, kubeconfig, s.readLog(s.logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends sig to the server's process group and waits for the server to
// exit (SIGKILL after 15 s). It returns how long the exit took after the
// signal and the process's exit error (nil: exit status 0).
func (s *server) stop(sig syscall.Signal) (time.Duration, error) {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0, errors.New("server not started")
	}
	start := time.Now()
	_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	select {
	case <-s.done:
		return time.Since(start), s.waitErr
	case <-time.After(15 * time.Second):
	}
	elapsed := time.Since(start)
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	return elapsed, fmt.Errorf("still running %s after %v; killed (%v)", elapsed.Round(time.Millisecond), sig, s.waitErr)
}

// addSecret registers a value that must never be printed.
func (s *server) addSecret(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, v)
}

// redact replaces registered secret values in text; leaked reports whether
// there was one.
func (s *server) redact(text string) (out string, leaked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.secrets {
		if v != "" && strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, "<REDACTED>")
			leaked = true
		}
	}
	return text, leaked
}

func (s *server) readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	text, _ := s.redact(string(b))
	lines := strings.Split(text, "\n")
	if len(lines) > 300 {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-300)}, lines[len(lines)-300:]...)
	}
	return strings.Join(lines, "\n")
}

func (s *server) dumpLogs(t testing.TB) {
	for i := 1; i <= s.starts; i++ {
		p := filepath.Join(s.cacheDir, fmt.Sprintf("berth-server-%d.log", i))
		t.Logf("---- berth server log (start %d, %s) ----\n%s", i, p, s.readLog(p))
	}
}

func (s *server) checkLogsForSecrets(t testing.TB) {
	for i := 1; i <= s.starts; i++ {
		p := filepath.Join(s.cacheDir, fmt.Sprintf("berth-server-%d.log", i))
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if _, leaked := s.redact(string(b)); leaked {
			t.Errorf("a secret value appeared in the berth server log (start %d)", i)
		}
	}
}

// kubectl runs kubectl against the server with a 60 s timeout.
func (s *server) kubectl(args ...string) (stdout, stderr string, err error) {
	return s.kubectlIn("", args...)
}

// kubectlIn runs kubectl with stdin.
func (s *server) kubectlIn(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", s.kubectlArgs(args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kubectl timed out after 60s: %w", err)
	}
	stdout, l1 := s.redact(out.String())
	stderr, l2 := s.redact(errb.String())
	if l1 || l2 {
		line := s.cmdline(args) // redacts under s.mu: not while holding it
		s.mu.Lock()
		s.leaks = append(s.leaks, line)
		s.mu.Unlock()
	}
	return stdout, stderr, err
}

func (s *server) kubectlArgs(args ...string) []string {
	return append([]string{"--kubeconfig", s.kubeconfig, "--cache-dir", s.cacheDir}, args...)
}

// cmdline renders a kubectl command for messages, with secrets redacted.
func (s *server) cmdline(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"{}[]*$") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	text, _ := s.redact("kubectl " + strings.Join(quoted, " "))
	return text
}

// mustKubectl runs kubectl and fails the test if it fails.
func (s *server) mustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.kubectl(args...)
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", s.cmdline(args), err, out, errOut)
	}
	return out
}

// mustKubectlIn is mustKubectl with stdin.
func (s *server) mustKubectlIn(t testing.TB, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := s.kubectlIn(stdin, args...)
	if err != nil {
		t.Fatalf("%s <<EOF\n%s\nEOF\n%v\nstdout:\n%s\nstderr:\n%s", s.cmdline(args), s.redactString(stdin), err, out, errOut)
	}
	return out, errOut
}

func (s *server) redactString(v string) string {
	out, _ := s.redact(v)
	return out
}

// apply runs `kubectl apply -f -` with yaml and returns stdout.
func (s *server) apply(t testing.TB, yaml string, extraArgs ...string) string {
	t.Helper()
	out, _ := s.mustKubectlIn(t, yaml, append([]string{"apply", "-f", "-"}, extraArgs...)...)
	return out
}

// getJSON runs `kubectl get ... -o json` and decodes the result into v.
func (s *server) getJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := s.mustKubectl(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: decoding JSON: %v\n%s", s.cmdline(append(append([]string{"get"}, args...), "-o", "json")), err, out)
	}
}

// namespace creates a namespace and waits for its `default` ServiceAccount
// (made by the service-account controller), which pod admission needs.
func (s *server) namespace(t testing.TB, name string) {
	t.Helper()
	s.mustKubectl(t, "create", "namespace", name)
	s.waitDefaultSA(t, name)
}

func (s *server) waitDefaultSA(t testing.TB, ns string) {
	t.Helper()
	timeout := 30 * time.Second
	s.mu.Lock()
	earlier := s.noSA
	s.mu.Unlock()
	if earlier != "" {
		timeout = 3 * time.Second // the controller is known not to work: do not wait 30 s per namespace
	}
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			if s.noSA == "" {
				s.noSA = ns
			}
			s.mu.Unlock()
			if earlier != "" {
				t.Errorf("(the default ServiceAccount also never appeared in namespace %q earlier)", earlier)
			}
		}
	}()
	eventually(t, timeout, func() error {
		out, errOut, err := s.kubectl("-n", ns, "get", "serviceaccount", "default", "-o", "name")
		if err != nil {
			return fmt.Errorf("the service-account controller did not create serviceaccount %q in namespace %q: %v: %s", "default", ns, err, errOut)
		}
		if strings.TrimSpace(out) != "serviceaccount/default" {
			return fmt.Errorf("get sa default -o name: %q", out)
		}
		return nil
	})
	ok = true
}

// eventually polls f every 200 ms until it returns nil; after timeout the
// test fails with f's last error.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// randomString returns a random hex string with a prefix.
func randomString(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// header returns the first line of table output, whitespace-normalised.
func header(out string) string {
	first, _, _ := strings.Cut(out, "\n")
	return strings.Join(strings.Fields(first), " ")
}

// rows returns the table lines after the header, split into fields.
func rows(out string) [][]string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var res [][]string
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) != "" {
			res = append(res, strings.Fields(l))
		}
	}
	return res
}

// row returns the table row whose first column is name.
func row(out, name string) []string {
	for _, r := range rows(out) {
		if len(r) > 0 && r[0] == name {
			return r
		}
	}
	return nil
}

// syncBuffer is a goroutine-safe bytes.Buffer for background commands.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background is a kubectl command running in the background.
type background struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// kubectlBackground starts kubectl in the background with a timeout; the
// test's cleanup stops it.
func (s *server) kubectlBackground(t testing.TB, timeout time.Duration, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, "kubectl", s.kubectlArgs(args...)...)
	b := &background{cmd: cmd, cancel: cancel, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.stdout, b.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", s.cmdline(args), err)
	}
	go func() {
		b.err = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// wait waits for the background command to exit (up to timeout).
func (b *background) wait(timeout time.Duration) (exited bool) {
	select {
	case <-b.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// buildTestProgram builds testdata/NAME, a small Go program test pods run,
// as a static binary (the images have no C library to link against).
func buildTestProgram(t *testing.T, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/"+name)
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test program testdata/%s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

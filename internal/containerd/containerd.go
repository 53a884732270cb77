package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Timings of the supervision loop.
const (
	readyTimeout = 30 * time.Second // from exec until CRI reports runtime and network ready
	readyPoll    = 50 * time.Millisecond
	stopGrace    = 5 * time.Second // SIGTERM, then SIGKILL
	restartMin   = time.Second
	restartMax   = 30 * time.Second
	stableRun    = time.Minute // a run this long resets the back-off
	// firstStartAttempts bounds the tries before the first Ready (about 15 s
	// of back-off): a containerd that never comes up is a set-up problem to
	// report, not to retry forever. After the first Ready, restarts are unbounded.
	firstStartAttempts = 5
	importTimeout      = time.Minute
	maxLogSize         = 16 << 20 // containerd.log is rotated to containerd.log.1 at start above this
	systemPathDirs     = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Containerd supervises one containerd child process. Create it with New.
type Containerd struct {
	l     layout
	bin   string
	log   *slog.Logger
	pause pauseImage
	cas   map[string]string // registry host → CA file

	ociRuntime     string // as asked (Config.OCIRuntime)
	mu             sync.Mutex
	defaultRuntime string // as chosen by Run

	restartMin time.Duration // first back-off; a field so tests can shorten it

	ready     chan struct{}
	readyOnce sync.Once
}

// New checks cfg and derives every path; it starts nothing.
func New(cfg Config) (*Containerd, error) {
	l, err := newLayout(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.OCIRuntime {
	case "", RuntimeAuto, RuntimeCrun, RuntimeRunc:
	default:
		return nil, fmt.Errorf("containerd: unknown OCI runtime %q: use auto, crun or runc", cfg.OCIRuntime)
	}
	img, err := buildPauseImage(PauseImageRef)
	if err != nil {
		return nil, fmt.Errorf("containerd: building the pause image: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	bin := cfg.Binary
	if bin == "" {
		bin = "containerd"
	}
	return &Containerd{
		l:     l,
		bin:   bin,
		log:   log.With("component", "containerd"),
		pause: img,
		cas:   cfg.RegistryCAs,

		ociRuntime: cfg.OCIRuntime,

		restartMin: restartMin,
		ready:      make(chan struct{}),
	}, nil
}

// Ready is closed once containerd answers CRI with runtime and network
// ready and the pause image is present. It stays closed across restarts.
func (c *Containerd) Ready() <-chan struct{} { return c.ready }

// Endpoint is the CRI endpoint, "unix://<data dir>/containerd/containerd.sock".
func (c *Containerd) Endpoint() string { return "unix://" + c.l.socket }

// PauseImage is the sandbox image containerd is configured with.
func (c *Containerd) PauseImage() string { return PauseImageRef }

// OCIRuntime is containerd's default OCI runtime ("crun" or "runc"), once
// Run has chosen it ("" before).
func (c *Containerd) OCIRuntime() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.defaultRuntime
}

// LogPath is the file that receives containerd's stdout and stderr.
func (c *Containerd) LogPath() string { return c.l.logFile }

// childEnv is the environment of containerd and, through it, of the shims
// and runc: ours, with the system directories on PATH.
func childEnv() []string {
	env := os.Environ()
	for i, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + withSystemPath(p)
			return env
		}
	}
	return append(env, "PATH="+systemPathDirs)
}

func withSystemPath(p string) string {
	have := map[string]bool{}
	for _, d := range filepath.SplitList(p) {
		have[d] = true
	}
	for _, d := range filepath.SplitList(systemPathDirs) {
		if !have[d] {
			if p != "" {
				p += string(filepath.ListSeparator)
			}
			p += d
		}
	}
	return p
}

// lookPath finds name in PATH plus the system directories.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, d := range filepath.SplitList(withSystemPath(os.Getenv("PATH"))) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH (%s)", name, withSystemPath(os.Getenv("PATH")))
}

// writeFiles creates the directories and writes config.toml and the conflist.
func (c *Containerd) writeFiles(rts []ociRuntime) error {
	for _, d := range []string{c.l.dir, c.l.root, c.l.state, c.l.opt, c.l.runcRoot, c.l.crunRoot, c.l.certsDir, c.l.confDir, c.l.ipamDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	if err := writeFileAtomic(c.l.configFile, []byte(renderConfig(c.l, PauseImageRef, rts)), 0o644); err != nil {
		return err
	}
	for host, ca := range c.cas {
		abs, err := filepath.Abs(ca)
		if err != nil {
			return fmt.Errorf("containerd: registry CA for %s: %w", host, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("containerd: registry CA for %s: %w", host, err)
		}
		dir := filepath.Join(c.l.certsDir, host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, "hosts.toml"), []byte(renderHostsTOML(host, abs)), 0o644); err != nil {
			return err
		}
	}
	// max_conf_num = 1 loads the first file by name: leave only ours.
	entries, err := os.ReadDir(c.l.confDir)
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(c.l.confDir, e.Name())
		if p != c.l.conflist && !e.IsDir() {
			c.log.Info("removing stale CNI config", "path", p)
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("containerd: %w", err)
			}
		}
	}
	return writeFileAtomic(c.l.conflist, []byte(renderConflist(c.l)), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("containerd: %w", err)
	}
	return nil
}

// dial returns a lazily connecting client for our socket. The short
// reconnect back-off makes readiness visible within ~100 ms of containerd
// listening, also after a restart.
func (c *Containerd) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(c.Endpoint(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	)
}

// Run starts containerd and supervises it until ctx ends, then stops it
// (not the shims: pods keep running). It returns nil after a clean stop,
// and an error when containerd cannot be started at all, is never ready in
// firstStartAttempts tries, or the pause image cannot be imported on the
// first start. Call Run once per Containerd.
func (c *Containerd) Run(ctx context.Context) error {
	bin, err := lookPath(c.bin)
	if err != nil {
		return fmt.Errorf("containerd: %w: install it (apt-get install containerd runc containernetworking-plugins) or use --container-runtime-endpoint", err)
	}
	ctr, err := lookPath(filepath.Join(filepath.Dir(bin), "ctr"))
	if err != nil {
		if ctr, err = lookPath("ctr"); err != nil {
			return fmt.Errorf("containerd: %w (it ships with containerd and imports the pause image)", err)
		}
	}
	conn, err := c.dial()
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	images := runtimeapi.NewImageServiceClient(conn)

	// A second containerd on the same data dir would unlink the first one's
	// socket and fight over its state: refuse before touching any file.
	if v, err := probeVersion(ctx, rt, time.Second); err == nil {
		return fmt.Errorf("containerd: a %s %s already serves %s: stop it, or point berth at it with --container-runtime-endpoint", v.RuntimeName, v.RuntimeVersion, c.Endpoint())
	}
	if ifaces, err := hostInterfaces(); err == nil {
		if err := cidrConflict(c.l.bridge, c.l.subnets, ifaces); err != nil {
			return err
		}
	}
	choice, err := chooseRuntimes(c.ociRuntime, c.l, hostProbe{lookPath: lookPath,
		crunUsable: func() error { return fixHybridCgroups(cgroupRoot) }})
	if err != nil {
		return err
	}
	if choice.note != "" {
		c.log.Warn(choice.note)
	}
	c.mu.Lock()
	c.defaultRuntime = choice.runtimes[0].name
	c.mu.Unlock()
	c.log.Info("OCI runtime", "default", choice.runtimes[0].name, "binary", choice.runtimes[0].binary)
	if err := c.writeFiles(choice.runtimes); err != nil {
		return err
	}

	wait := c.restartMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		p, err := c.start(bin)
		if err != nil {
			return fmt.Errorf("containerd: starting %s: %w", bin, err)
		}
		c.log.Info("containerd started", "pid", p.pid, "endpoint", c.Endpoint(), "log", c.l.logFile, "attempt", attempt)

		err = c.waitReady(ctx, p, rt)
		switch {
		case ctx.Err() != nil:
			c.stop(p)
			return nil
		case err != nil:
			c.log.Error("containerd did not become ready", "err", err, "pid", p.pid, "log", c.l.logFile, "tail", c.logTail())
			c.stop(p)
			if !c.isReady() && attempt >= firstStartAttempts {
				return fmt.Errorf("containerd: not ready after %d starts: %w; see %s:\n%s", attempt, err, c.l.logFile, c.logTail())
			}
		default:
			c.log.Info("containerd ready", "pid", p.pid, "took", time.Since(start).Round(time.Millisecond))
			if err := c.ensurePauseImage(ctx, ctr, images); err != nil {
				if ctx.Err() != nil {
					c.stop(p)
					return nil
				}
				if !c.isReady() {
					c.stop(p)
					return fmt.Errorf("containerd: pause image: %w", err)
				}
				c.log.Error("pause image check after restart failed", "err", err)
			}
			c.readyOnce.Do(func() { close(c.ready) })

			select {
			case <-ctx.Done():
				c.stop(p)
				return nil
			case <-p.done:
				c.log.Error("containerd exited unexpectedly", "pid", p.pid, "err", p.err, "ran", time.Since(start).Round(time.Millisecond), "log", c.l.logFile, "tail", c.logTail())
			}
		}

		if time.Since(start) >= stableRun {
			wait = c.restartMin
		}
		c.log.Info("restarting containerd", "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, restartMax)
	}
}

func (c *Containerd) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// proc is one containerd process.
type proc struct {
	pid  int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result, set before done is closed
}

// start execs containerd in its own process group with Pdeathsig SIGTERM:
// if berth dies without stopping it, containerd stops too (its shims do
// not: they are in their own process groups, reparented, and survive).
// Pdeathsig fires when the forking thread exits, so that thread stays
// locked to the goroutine that waits for the child.
func (c *Containerd) start(bin string) (*proc, error) {
	rotateLog(c.l.logFile)
	logf, err := os.OpenFile(c.l.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "--- berth: starting %s --config %s at %s\n", bin, c.l.configFile, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(bin, "--config", c.l.configFile)
	cmd.Dir = c.l.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			logf.Close()
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM to containerd alone (never to a process group: the
// shims must live on), then SIGKILL after stopGrace.
func (c *Containerd) stop(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	t0 := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		c.log.Info("containerd stopped", "pid", p.pid, "took", time.Since(t0).Round(time.Millisecond))
	case <-time.After(stopGrace):
		c.log.Warn("containerd ignored SIGTERM; killing it", "pid", p.pid, "after", stopGrace)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func probeVersion(ctx context.Context, rt runtimeapi.RuntimeServiceClient, timeout time.Duration) (*runtimeapi.VersionResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return rt.Version(ctx, &runtimeapi.VersionRequest{})
}

// waitReady polls CRI until Version answers and Status reports the runtime
// and the network ready. It fails if the process exits, or if it does not
// answer at all within readyTimeout (a restart may help). A containerd that
// answers but stays not ready (say, CNI plugins missing) is waited for,
// with a warning every readyTimeout: restarting it would not help.
// It returns ctx.Err() when ctx ends.
func (c *Containerd) waitReady(ctx context.Context, p *proc, rt runtimeapi.RuntimeServiceClient) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	answered := false
	last := errors.New("no answer yet")
	for {
		if _, err := probeVersion(ctx, rt, time.Second); err != nil {
			last = fmt.Errorf("CRI Version: %w", err)
		} else if err := c.statusReady(ctx, rt); err != nil {
			answered = true
			last = err
		} else {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("containerd exited (%v) before it was ready", p.err)
		case <-deadline.C:
			if !answered {
				return fmt.Errorf("no CRI answer after %s: %w", readyTimeout, last)
			}
			c.log.Warn("containerd answers but is not ready; still waiting", "reason", last, "log", c.l.logFile)
			deadline.Reset(readyTimeout)
		case <-tick.C:
		}
	}
}

func (c *Containerd) statusReady(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return fmt.Errorf("CRI Status: %w", err)
	}
	var notReady []string
	for _, want := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		ok := false
		for _, cond := range st.GetStatus().GetConditions() {
			if cond.GetType() == want {
				ok = cond.GetStatus()
				if !ok {
					notReady = append(notReady, fmt.Sprintf("%s=false (%s: %s)", want, cond.GetReason(), cond.GetMessage()))
				}
			}
		}
		if !ok && len(notReady) == 0 {
			notReady = append(notReady, want+" missing")
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("CRI Status: %s", strings.Join(notReady, "; "))
	}
	return nil
}

// pauseImageID asks CRI for the image ID under PauseImageRef ("" if absent).
func pauseImageID(ctx context.Context, images runtimeapi.ImageServiceClient) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: PauseImageRef}})
	if err != nil {
		return "", err
	}
	return resp.GetImage().GetId(), nil
}

// ensurePauseImage imports the pause image with ctr unless CRI already has
// it with the expected ID, then waits until CRI sees it.
func (c *Containerd) ensurePauseImage(ctx context.Context, ctr string, images runtimeapi.ImageServiceClient) error {
	id, err := pauseImageID(ctx, images)
	if err != nil {
		return fmt.Errorf("CRI ImageStatus %s: %w", PauseImageRef, err)
	}
	if id == c.pause.ID {
		c.log.Debug("pause image present", "image", PauseImageRef, "id", id)
		return nil
	}
	prev := id
	t0 := time.Now()
	if err := os.WriteFile(c.l.pauseTar, c.pause.Tar, 0o644); err != nil {
		return err
	}
	defer os.Remove(c.l.pauseTar)
	ictx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	args := []string{"--address", c.l.socket, "--namespace", "k8s.io", "images", "import", "--all-platforms", c.l.pauseTar}
	cmd := exec.CommandContext(ictx, ctr, args...)
	cmd.Env = childEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", ctr, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	// CRI learns about the image from containerd's event stream: wait for it.
	for {
		id, err = pauseImageID(ictx, images)
		if err == nil && id == c.pause.ID {
			c.log.Info("pause image imported", "image", PauseImageRef, "id", id, "was", orNone(prev), "took", time.Since(t0).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ictx.Done():
			return fmt.Errorf("after import, CRI reports %s with ID %q (err %v), want %s", PauseImageRef, id, err, c.pause.ID)
		case <-time.After(readyPoll):
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// logTail returns the last lines of containerd.log for error messages.
func (c *Containerd) logTail() string {
	f, err := os.Open(c.l.logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	const n = 2048
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

func rotateLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1")
	}
}

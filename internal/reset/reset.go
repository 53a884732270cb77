// Package reset removes everything a stopped berth instance left on the
// host, as k3s's uninstall script does for k3s: its pods (through its own
// containerd, so that CNI releases their addresses and rules), containerd
// and the shims, the CNI bridge, the Service nftables table, the mounts
// and cgroups of its pods, and the data dir. Everything is found from the
// data dir (paths and names derived from it, processes by the sockets and
// config files under it), never by a process or interface name, so other
// instances on the machine are left alone.
package reset

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/containerd"
	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/proxy"
)

// Config says what to reset.
type Config struct {
	DataDir string
	// Out receives one line per thing removed (default: discarded).
	Out io.Writer
	// ProcRoot and CgroupRoot are /proc and /sys/fs/cgroup (tests change them).
	ProcRoot, CgroupRoot string
}

// Run resets the instance. It refuses while berth runs on the data dir. It
// goes on past a failed step and returns every failure at the end.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("reset: --data-dir is required")
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	p, err := containerd.PathsOf(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if fi, err := os.Stat(p.DataDir); err != nil || !fi.IsDir() {
		// Nothing on disk; host leftovers may still exist (the bridge,
		// the table): go on.
		fmt.Fprintf(cfg.Out, "data dir %s does not exist; removing what is left on the host\n", p.DataDir)
	}
	procs := listProcs(cfg.ProcRoot)
	if pids := serverPIDs(procs, p.DataDir); len(pids) > 0 {
		return fmt.Errorf("reset: berth is running on %s (pid %v): stop it first (kill -TERM %d), then run berth reset again", p.DataDir, pids, pids[0])
	}
	r := &resetter{cfg: cfg, p: p}
	r.stopPods(ctx, procs)
	r.killLeftovers()
	r.removeCgroups()
	r.unmountAll()
	r.removeBridge()
	r.removeTable(ctx)
	r.removeCNIResults()
	r.removeDataDir()
	return errors.Join(r.errs...)
}

type resetter struct {
	cfg  Config
	p    containerd.Paths
	uids map[string]bool // pod UIDs of the instance
	errs []error
}

func (r *resetter) say(format string, args ...any) { fmt.Fprintf(r.cfg.Out, format+"\n", args...) }

func (r *resetter) fail(err error) {
	r.errs = append(r.errs, err)
	fmt.Fprintf(r.cfg.Out, "error: %v\n", err)
}

// proc is one process: its pid and argv.
type proc struct {
	pid  int
	argv []string
}

func listProcs(root string) []proc {
	entries, _ := os.ReadDir(root)
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		out = append(out, proc{pid: pid, argv: strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")})
	}
	return out
}

// flagValue returns the value of a --flag (or -flag) in argv: "--flag v"
// or "--flag=v".
func flagValue(argv []string, names ...string) (string, bool) {
	for i, a := range argv {
		for _, n := range names {
			if a == n && i+1 < len(argv) {
				return argv[i+1], true
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// serverPIDs are the `berth server|agent --data-dir DIR` processes of dir.
func serverPIDs(procs []proc, dir string) []int {
	var out []int
	for _, p := range procs {
		if len(p.argv) < 2 || filepath.Base(p.argv[0]) != "berth" || (p.argv[1] != "server" && p.argv[1] != "agent") {
			continue
		}
		v, ok := flagValue(p.argv, "--data-dir")
		if !ok {
			continue
		}
		if abs, err := filepath.Abs(v); err == nil && abs == dir {
			out = append(out, p.pid)
		}
	}
	return out
}

// containerdPIDs are the containerd processes running with the instance's
// config file.
func containerdPIDs(procs []proc, config string) []int {
	var out []int
	for _, p := range procs {
		if v, ok := flagValue(p.argv, "--config", "-c"); ok && v == config && strings.HasPrefix(filepath.Base(p.argv[0]), "containerd") {
			out = append(out, p.pid)
		}
	}
	return out
}

// shimPIDs are the containerd shims serving the instance's containerd.
func shimPIDs(procs []proc, socket string) []int {
	var out []int
	for _, p := range procs {
		if v, ok := flagValue(p.argv, "-address", "--address"); ok && v == socket && strings.HasPrefix(filepath.Base(p.argv[0]), "containerd-shim") {
			out = append(out, p.pid)
		}
	}
	return out
}

// stopPods stops and removes every pod sandbox through the instance's
// containerd (started for the purpose if it is not running), so that CNI
// tears down each pod's network (veth, address, portmap rules), then
// stops containerd.
func (r *resetter) stopPods(ctx context.Context, procs []proc) {
	r.uids = map[string]bool{}
	for _, uid := range r.podDirUIDs() {
		r.uids[uid] = true
	}
	pids := containerdPIDs(procs, r.p.ConfigFile)
	var started *exec.Cmd
	if len(pids) == 0 {
		if _, err := os.Stat(r.p.ConfigFile); err != nil {
			return // never ran containerd: no pods
		}
		if len(r.uids) == 0 && len(shimPIDs(procs, r.p.Socket)) == 0 {
			return // no pod left: no need to start containerd
		}
		if r.p.Binary == "" {
			r.fail(errors.New("containerd is not installed: pods cannot be stopped through it; killing them instead"))
			return
		}
		cmd := exec.Command(r.p.Binary, "--config", r.p.ConfigFile)
		cmd.Dir = filepath.Dir(r.p.ConfigFile)
		cmd.Env = containerd.ChildEnv()
		logf, err := os.OpenFile(filepath.Join(filepath.Dir(r.p.ConfigFile), "containerd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			cmd.Stdout, cmd.Stderr = logf, logf
			defer logf.Close()
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			r.fail(fmt.Errorf("starting containerd to stop the pods: %w", err))
			return
		}
		started = cmd
		pids = []int{cmd.Process.Pid}
		go func() { _ = cmd.Wait() }()
	}
	defer func() {
		for _, pid := range pids {
			stopProcess(pid, 10*time.Second)
			r.say("stopped containerd (pid %d)", pid)
		}
		_ = started
	}()

	rt, err := dialRetry(ctx, "unix://"+r.p.Socket, 30*time.Second)
	if err != nil {
		r.fail(fmt.Errorf("containerd at %s does not answer (%v): killing the pods instead", r.p.Socket, err))
		return
	}
	defer rt.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	sbs, err := rt.ListPodSandbox(lctx, nil)
	cancel()
	if err != nil {
		r.fail(fmt.Errorf("listing pods: %w", err))
		return
	}
	for _, sb := range sbs {
		if uid := sb.GetMetadata().GetUid(); uid != "" {
			r.uids[uid] = true
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := rt.StopPodSandbox(sctx, sb.Id)
		if err == nil {
			err = rt.RemovePodSandbox(sctx, sb.Id)
		}
		cancel()
		if err != nil {
			r.fail(fmt.Errorf("removing pod %s/%s: %w", sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName(), err))
			continue
		}
		r.say("removed pod %s/%s (sandbox %.12s)", sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName(), sb.Id)
	}
}

func dialRetry(ctx context.Context, endpoint string, within time.Duration) (*cri.Client, error) {
	deadline := time.Now().Add(within)
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := cri.Dial(dctx, endpoint)
		cancel()
		if err == nil {
			var st *runtimeapi.RuntimeStatus
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err = c.Status(sctx)
			cancel()
			if err == nil && st != nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopProcess sends SIGTERM, then SIGKILL after grace.
func stopProcess(pid int, grace time.Duration) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// killLeftovers kills the instance's shims and every process left in its
// pods' cgroups (their containers).
func (r *resetter) killLeftovers() {
	procs := listProcs(r.cfg.ProcRoot)
	for _, pid := range shimPIDs(procs, r.p.Socket) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		r.say("killed containerd shim (pid %d)", pid)
	}
	for _, pid := range containerdPIDs(procs, r.p.ConfigFile) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		r.say("killed containerd (pid %d)", pid)
	}
	for _, dir := range r.cgroupDirs() {
		for _, pid := range cgroupPIDs(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			r.say("killed pod process (pid %d)", pid)
		}
	}
}

// podDirUIDs are the UIDs of the pods whose directories the agent kept
// (<data dir>/agent/pods/<namespace>_<name>_<uid>).
func (r *resetter) podDirUIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(r.p.DataDir, "agent", "pods"))
	var out []string
	for _, e := range entries {
		if i := strings.LastIndexByte(e.Name(), '_'); i >= 0 && e.IsDir() {
			out = append(out, e.Name()[i+1:])
		}
	}
	return out
}

// cgroupDirs are the pods' cgroup parents (/berth/pod<uid>) in every
// hierarchy, cgroup v2 and v1.
func (r *resetter) cgroupDirs() []string {
	var out []string
	for uid := range r.uids {
		if uid == "" || strings.ContainsAny(uid, "/*?[") {
			continue
		}
		if d := filepath.Join(r.cfg.CgroupRoot, "berth", "pod"+uid); isDir(d) {
			out = append(out, d)
		}
		v1, _ := filepath.Glob(filepath.Join(r.cfg.CgroupRoot, "*", "berth", "pod"+uid))
		out = append(out, v1...)
	}
	sort.Strings(out)
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// cgroupPIDs lists the processes in dir and its children.
func cgroupPIDs(dir string) []int {
	var out []int
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
		return nil
	})
	return out
}

// removeCgroups removes the pods' cgroups, children first (a cgroup
// whose processes are still exiting is retried for a few seconds).
func (r *resetter) removeCgroups() {
	for _, dir := range r.cgroupDirs() {
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		var last error
		for _, d := range dirs {
			for try := 0; try < 50; try++ {
				if last = syscall.Rmdir(d); last == nil || errors.Is(last, syscall.ENOENT) {
					last = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		if last != nil {
			r.fail(fmt.Errorf("removing cgroup %s: %w", dir, last))
			continue
		}
		r.say("removed cgroup %s", dir)
	}
}

// mountsUnder lists the mount points at or under dir, deepest first.
func mountsUnder(mountinfo []byte, dir string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (r *resetter) unmountAll() {
	for round := 0; round < 3; round++ {
		info, err := os.ReadFile(filepath.Join(r.cfg.ProcRoot, "self", "mountinfo"))
		if err != nil {
			r.fail(fmt.Errorf("reading the mount table: %w", err))
			return
		}
		mps := mountsUnder(info, r.p.DataDir)
		if len(mps) == 0 {
			return
		}
		for _, mp := range mps {
			err := syscall.Unmount(mp, 0)
			if errors.Is(err, syscall.EBUSY) {
				err = syscall.Unmount(mp, syscall.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				if round == 2 {
					r.fail(fmt.Errorf("unmounting %s: %w", mp, err))
				}
				continue
			}
			r.say("unmounted %s", mp)
		}
	}
}

func (r *resetter) removeBridge() {
	if _, err := net.InterfaceByName(r.p.Bridge); err != nil {
		return
	}
	out, err := exec.Command("ip", "link", "delete", r.p.Bridge).CombinedOutput()
	if err != nil {
		r.fail(fmt.Errorf("removing bridge %s: %v: %s", r.p.Bridge, err, bytes.TrimSpace(out)))
		return
	}
	r.say("removed bridge %s", r.p.Bridge)
}

func (r *resetter) removeTable(ctx context.Context) {
	table := proxy.TableName(r.p.DataDir)
	nft := proxy.NFT{}
	if _, err := exec.LookPath("nft"); err != nil {
		return // no nft: berth could not have made the table
	}
	if out, err := exec.CommandContext(ctx, "nft", "list", "table", "ip", table).CombinedOutput(); err != nil {
		_ = out
		return // absent
	}
	if err := nft.DeleteTable(ctx, table); err != nil {
		r.fail(fmt.Errorf("removing nftables table ip %s: %w", table, err))
		return
	}
	r.say("removed nftables table ip %s", table)
}

// removeCNIResults removes the CNI cache entries of the instance's network
// (keyed by its name, which the data dir determines).
func (r *resetter) removeCNIResults() {
	files, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", r.p.Network+"-*"))
	for _, f := range files {
		if err := os.Remove(f); err == nil {
			r.say("removed CNI cache %s", f)
		}
	}
}

func (r *resetter) removeDataDir() {
	if _, err := os.Lstat(r.p.DataDir); errors.Is(err, os.ErrNotExist) {
		return
	}
	info, err := os.ReadFile(filepath.Join(r.cfg.ProcRoot, "self", "mountinfo"))
	if err != nil {
		r.fail(err)
		return
	}
	if mps := mountsUnder(info, r.p.DataDir); len(mps) > 0 {
		r.fail(fmt.Errorf("not removing %s: mounts remain under it: %v", r.p.DataDir, mps))
		return
	}
	if err := os.RemoveAll(r.p.DataDir); err != nil {
		r.fail(fmt.Errorf("removing %s: %w", r.p.DataDir, err))
		return
	}
	r.say("removed %s", r.p.DataDir)
}

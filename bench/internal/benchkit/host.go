package benchkit

import (
	"debug/buildinfo"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Host is the machine and the software versions a result comes from,
// for the reader who compares it with another.
type Host struct {
	CPUModel    string  `json:"cpu_model"`
	Cores       int     `json:"cores"`
	MemoryBytes int64   `json:"memory_bytes"`
	Kernel      string  `json:"kernel"`
	GoVersion   string  `json:"go_version"` // of the benchmark program
	Containerd  string  `json:"containerd,omitempty"`
	Runc        string  `json:"runc,omitempty"`
	Crun        string  `json:"crun,omitempty"`
	Berth       string  `json:"berth_commit,omitempty"` // the binary's vcs revision, "+dirty" when modified
	Load1       float64 `json:"load1"`                  // load average over the last minute, at the start
}

// DescribeHost describes this machine, the runtimes on PATH and the berth
// binary bin ("" when the benchmark has none: the repository's commit is
// used then).
func DescribeHost(bin string) Host {
	h := Host{Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		Kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")), Load1: Load1()}
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			h.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			h.MemoryBytes = kb * 1024
		}
	}
	h.Containerd = toolVersion("containerd", "--version")
	h.Runc = toolVersion("runc", "--version")
	h.Crun = toolVersion("crun", "--version")
	h.Berth = berthCommit(bin)
	return h
}

// toolVersion is the version word of `name args…`'s first line ("v1.7.24",
// "1.1.15"); "" when the tool is missing.
func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return versionWord(first)
}

// versionWord picks the version from a tool's banner: "containerd
// github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6" → "1.7.24~ds1",
// "runc version 1.1.15+ds1" → "1.1.15+ds1".
func versionWord(line string) string {
	for _, f := range strings.Fields(line) {
		v := strings.TrimPrefix(f, "v")
		if v != "" && v[0] >= '0' && v[0] <= '9' && strings.Contains(v, ".") {
			return v
		}
	}
	return strings.TrimSpace(line)
}

// berthCommit is bin's vcs revision from its build information, or the
// repository's HEAD when bin has none (go run, -buildvcs=false).
func berthCommit(bin string) string {
	if bin != "" {
		if bi, err := buildinfo.ReadFile(bin); err == nil {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if rev != "" {
				rev = rev[:min(len(rev), 12)]
				if modified == "true" {
					rev += "+dirty"
				}
				return rev
			}
		}
	}
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += "+dirty"
	}
	return rev
}

// Load1 is the load average over the last minute; -1 when unknown.
func Load1() float64 {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

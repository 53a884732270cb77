package benchkit

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine is where the numbers come from, for the report's header.
type Machine struct {
	Date      time.Time
	CPUs      int
	CPUModel  string
	Kernel    string
	GoVersion string
	Berth     string // the binary and what built it
	Tmp       string // the temp dir and its file system (fsync cost, containerd's content live there)
	LoadAvg   string // 1, 5, 15 min at the start: other load makes the runs noisy
}

// DescribeMachine describes this machine, the berth binary bin and the
// temp dir tmp.
func DescribeMachine(bin, tmp string) Machine {
	m := Machine{
		Date:      time.Now(),
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Kernel:    strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		Tmp:       tmp + " (" + fsType(tmp) + ")",
		Berth:     bin + binaryBuild(bin),
	}
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) >= 3 {
		m.LoadAvg = strings.Join(f[:3], " ")
	}
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	return m
}

// OneLine is the CPUs, OS, kernel and Go version on one line.
func (m Machine) OneLine() string {
	s := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.CPUModel != "" {
		s += " (" + m.CPUModel + ")"
	}
	return s + ", " + runtime.GOOS + "/" + runtime.GOARCH + " " + m.Kernel + ", " + m.GoVersion
}

// binaryBuild is " (go1.x, rev abcdef012345+dirty)" from bin's build
// information, or "" when it has none.
func binaryBuild(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return ""
	}
	desc := []string{bi.GoVersion}
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
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "+dirty"
		}
		desc = append(desc, "rev "+rev)
	}
	return " (" + strings.Join(desc, ", ") + ")"
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

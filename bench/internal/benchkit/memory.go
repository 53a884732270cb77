package benchkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory reads the peak (VmHWM) and current (VmRSS) resident set of pid in
// bytes; -1 when /proc cannot tell.
func Memory(pid int) (peak, rss int64) {
	peak, rss = -1, -1
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			peak = n * 1024
		case "VmRSS":
			rss = n * 1024
		}
	}
	return
}

// RSS reads VmRSS of pid in bytes; -1 when /proc cannot tell.
func RSS(pid int) int64 {
	_, rss := Memory(pid)
	return rss
}

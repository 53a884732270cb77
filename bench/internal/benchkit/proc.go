package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process from /proc.
type Proc struct {
	PID, PPID int
	Comm      string
	Cmdline   []string
}

// Processes lists /proc (processes that vanish meanwhile are skipped).
func Processes() []Proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		rest := strings.Fields(string(stat[closing+1:]))
		if len(rest) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(rest[1])
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, Proc{PID: pid, PPID: ppid, Comm: string(stat[open+1 : closing]),
			Cmdline: strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")})
	}
	return out
}

// ChildOf finds the child of parent running the command comm; 0 when
// there is none.
func ChildOf(parent int, comm string) int {
	for _, p := range Processes() {
		if p.PPID == parent && p.Comm == comm {
			return p.PID
		}
	}
	return 0
}

// Alive tells whether pid still runs the command comm.
func Alive(pid int, comm string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(b)) == comm
}

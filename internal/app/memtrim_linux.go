package app

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimFileBacked drops from berth's page tables the clean, read-only,
// file-backed pages it has mapped: the binary's code and read-only data,
// most of which only package initialisation and start-up ever touched (Go
// binaries of this size have ~100 MiB of them), and the etcd database file,
// which etcd maps with MAP_POPULATE and so reads in whole at start. The
// pages stay in the page cache; whatever is used again is mapped back by a
// minor fault. Only mappings that are not writable and hold no dirty page
// are touched, so no data can be lost. It returns how many bytes were
// resident in the mappings it trimmed.
func trimFileBacked() int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var maps []mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if m, ok := parseMapsHeader(line); ok {
			maps = append(maps, m)
			continue
		}
		if len(maps) == 0 {
			continue
		}
		cur := &maps[len(maps)-1]
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch string(k) {
		case "Rss":
			cur.rss = n * 1024
		case "Private_Dirty", "Shared_Dirty":
			cur.dirtyKB += n
		}
	}
	var trimmed int64
	for _, m := range maps {
		if !m.eligible || m.dirtyKB != 0 || m.rss == 0 {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno == 0 {
			trimmed += m.rss
		}
	}
	return trimmed
}

// mapping is one entry of /proc/self/smaps.
type mapping struct {
	start, end   uintptr
	eligible     bool
	rss, dirtyKB int64
}

// parseMapsHeader reads a mapping's first line in smaps ("start-end perms
// offset dev inode path"); eligible mappings are read-only and backed by a
// regular file.
func parseMapsHeader(line []byte) (m mapping, ok bool) {
	f := strings.Fields(string(line))
	if len(f) < 5 {
		return m, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return m, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || len(f[1]) != 4 {
		return m, false
	}
	m.start, m.end = uintptr(start), uintptr(end)
	perms := f[1]
	path := ""
	if len(f) >= 6 {
		path = f[5]
	}
	m.eligible = perms[0] == 'r' && perms[1] == '-' && strings.HasPrefix(path, "/") && f[4] != "0"
	return m, true
}

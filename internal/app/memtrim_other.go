//go:build !linux

package app

// trimFileBacked is Linux-only (it reads /proc/self/smaps).
func trimFileBacked() int64 { return 0 }

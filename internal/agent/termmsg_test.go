package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestTerminationMessageBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 256 MiB file: only its end may be read.
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("the end"), 256<<20-7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st := &runtimeapi.ContainerStatus{ExitCode: 1, Annotations: map[string]string{annoTerminationHostPath: big}}
	msg := terminationMessage(st)
	if len(msg) != maxTerminationMessage || !strings.HasSuffix(msg, "the end") {
		t.Errorf("message of %d bytes ending %q; want the file's last %d bytes", len(msg), msg[max(0, len(msg)-10):], maxTerminationMessage)
	}

	small := filepath.Join(dir, "small")
	must(t, os.WriteFile(small, []byte("bye\n"), 0o644))
	if got := terminationMessage(&runtimeapi.ContainerStatus{Annotations: map[string]string{annoTerminationHostPath: small}}); got != "bye\n" {
		t.Errorf("small message %q", got)
	}

	// A FIFO in place of the file: refused, not waited on.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := terminationMessage(&runtimeapi.ContainerStatus{Annotations: map[string]string{annoTerminationHostPath: fifo}}); !strings.Contains(got, "is not a regular file") {
		t.Errorf("fifo: %q", got)
	}
	// A symlink is not followed.
	link := filepath.Join(dir, "link")
	must(t, os.Symlink("/etc/shadow", link))
	if got := terminationMessage(&runtimeapi.ContainerStatus{Annotations: map[string]string{annoTerminationHostPath: link}}); strings.Contains(got, "root:") {
		t.Errorf("symlink followed: %q", got)
	}
}

func TestTailLogBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	f, _ := os.Create(path)
	// 1 GiB of sparse zeros, then 100 log lines.
	must(t, f.Truncate(1<<30))
	_, err := f.Seek(0, 2)
	must(t, err)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(f, "2026-01-01T00:00:00.000000000Z stderr F line %d\n", i)
	}
	f.Close()
	st := &runtimeapi.ContainerStatus{ExitCode: 2, LogPath: path, Annotations: map[string]string{
		annoTerminationPolicy: string(corev1.TerminationMessageFallbackToLogsOnError), annoTerminationHostPath: filepath.Join(dir, "absent")}}
	got := terminationMessage(st)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 80 || lines[0] != "line 20" || lines[79] != "line 99" {
		t.Errorf("tail: %d lines, first %q", len(lines), lines[0])
	}
	// Long lines: only the last 2048 bytes.
	f, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "2026-01-01T00:00:00.000000000Z stderr F %s\n", strings.Repeat("x", 5000))
	f.Close()
	if got := terminationMessage(st); len(got) != 2048 || strings.Trim(got, "x\n") != "" {
		t.Errorf("long line: %d bytes", len(got))
	}
}

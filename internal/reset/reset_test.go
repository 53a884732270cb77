package reset

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestProcessMatching(t *testing.T) {
	dir := "/var/lib/berth"
	procs := []proc{
		{1, []string{"/usr/local/bin/berth", "server", "--data-dir", "/var/lib/berth"}},
		{2, []string{"berth", "server", "--data-dir=/var/lib/berth2"}},
		{3, []string{"berth", "explain", "--data-dir", "/var/lib/berth"}},
		{4, []string{"/usr/bin/containerd", "--config", "/var/lib/berth/containerd/config.toml"}},
		{5, []string{"/usr/bin/containerd", "--config", "/var/lib/other/containerd/config.toml"}},
		{6, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/var/lib/berth/containerd/containerd.sock", "-id", "x"}},
		{7, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-id", "y"}},
		{8, []string{"sleep", "-address", "/var/lib/berth/containerd/containerd.sock"}},
	}
	if got := serverPIDs(procs, dir); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("servers %v", got)
	}
	if got := containerdPIDs(procs, dir+"/containerd/config.toml"); !reflect.DeepEqual(got, []int{4}) {
		t.Errorf("containerd %v", got)
	}
	if got := shimPIDs(procs, dir+"/containerd/containerd.sock"); !reflect.DeepEqual(got, []int{6}) {
		t.Errorf("shims %v", got)
	}
}

func TestMountsUnder(t *testing.T) {
	info := `22 1 0:21 / /proc rw - proc proc rw
30 1 0:30 / /var/lib/berth/agent/pods/p/volumes/x rw - tmpfs tmpfs rw
31 30 0:31 / /var/lib/berth/agent/pods/p/volumes/x/deeper rw - tmpfs tmpfs rw
32 1 0:32 / /var/lib/berth2/y rw - tmpfs tmpfs rw
33 1 0:33 / /var/lib/berth/with\040space rw - tmpfs tmpfs rw
`
	got := mountsUnder([]byte(info), "/var/lib/berth")
	want := []string{"/var/lib/berth/agent/pods/p/volumes/x/deeper", "/var/lib/berth/agent/pods/p/volumes/x", "/var/lib/berth/with space"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestRefusesWhileRunning(t *testing.T) {
	procRoot := t.TempDir()
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(procRoot, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(procRoot, "42", "cmdline"), []byte("berth\x00server\x00--data-dir\x00"+dataDir+"\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Config{DataDir: dataDir, ProcRoot: procRoot, CgroupRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "berth is running on "+dataDir+" (pid [42]): stop it first") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Error("the data dir of a running berth was touched")
	}
}

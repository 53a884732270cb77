package volumes

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckHostPath(t *testing.T) {
	dir := tempDir(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	block := findBlockDevice()

	tests := []struct {
		name     string
		path     string
		typ      *corev1.HostPathType
		wantErr  string
		wantKind corev1.HostPathType // what the path is afterwards, when created
	}{
		{name: "unset, missing", path: missing},
		{name: "empty type", path: missing, typ: ptr(corev1.HostPathUnset)},
		{name: "directory", path: dir, typ: ptr(corev1.HostPathDirectory)},
		{name: "directory, is a file", path: file, typ: ptr(corev1.HostPathDirectory),
			wantErr: "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{name: "directory, missing", path: missing, typ: ptr(corev1.HostPathDirectory),
			wantErr: "hostPath " + missing + " doesn't exist"},
		{name: "directory or create, created", path: filepath.Join(dir, "new/sub"), typ: ptr(corev1.HostPathDirectoryOrCreate), wantKind: corev1.HostPathDirectory},
		{name: "directory or create, is a file", path: file, typ: ptr(corev1.HostPathDirectoryOrCreate),
			wantErr: "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{name: "file", path: file, typ: ptr(corev1.HostPathFile)},
		{name: "file through a symlink", path: link, typ: ptr(corev1.HostPathFile)},
		{name: "file, is a directory", path: dir, typ: ptr(corev1.HostPathFile),
			wantErr: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "file or create, created", path: filepath.Join(dir, "new.txt"), typ: ptr(corev1.HostPathFileOrCreate), wantKind: corev1.HostPathFile},
		{name: "file or create, parent missing", path: filepath.Join(dir, "nodir/new.txt"), typ: ptr(corev1.HostPathFileOrCreate),
			wantErr: "open " + filepath.Join(dir, "nodir/new.txt") + ": no such file or directory"},
		{name: "file or create, is a directory", path: dir, typ: ptr(corev1.HostPathFileOrCreate),
			wantErr: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "socket", path: sock, typ: ptr(corev1.HostPathSocket)},
		{name: "socket, is a file", path: file, typ: ptr(corev1.HostPathSocket),
			wantErr: "hostPath type check failed: " + file + " is not a socket file, it's a File"},
		{name: "char device", path: "/dev/null", typ: ptr(corev1.HostPathCharDev)},
		{name: "char device, is a socket", path: sock, typ: ptr(corev1.HostPathCharDev),
			wantErr: "hostPath type check failed: " + sock + " is not a character device, it's a Socket"},
		{name: "block device, is a char device", path: "/dev/null", typ: ptr(corev1.HostPathBlockDev),
			wantErr: "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"},
		{name: "invalid type", path: dir, typ: ptr(corev1.HostPathType("Pipe")), wantErr: "Pipe is an invalid volume type"},
		{name: "backsteps", path: dir + "/../etc", typ: ptr(corev1.HostPathDirectory),
			wantErr: "invalid HostPath `" + dir + "/../etc`: must not contain '..'"},
	}
	if block != "" {
		tests = append(tests, struct {
			name     string
			path     string
			typ      *corev1.HostPathType
			wantErr  string
			wantKind corev1.HostPathType
		}{name: "block device", path: block, typ: ptr(corev1.HostPathBlockDev)})
	} else {
		t.Log("no block device under /dev: the BlockDevice success case is not run")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tt.path, Type: tt.typ})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKind != "" {
				if got, err := fileType(tt.path); err != nil || got != tt.wantKind {
					t.Errorf("created %s, %v; want %s", got, err, tt.wantKind)
				}
			}
		})
	}
}

func findBlockDevice() string {
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		p := filepath.Join("/dev", e.Name())
		if info, err := os.Stat(p); err == nil && info.Mode()&fs.ModeDevice != 0 && info.Mode()&fs.ModeCharDevice == 0 {
			return p
		}
	}
	return ""
}

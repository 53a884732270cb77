package critest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// BusyboxPath is where Debian's busybox-static package installs the static
// busybox the test images are built from (apt-get install busybox-static).
const BusyboxPath = "/bin/busybox"

// BusyboxApplets are the names linked to /bin/busybox in the test image.
var BusyboxApplets = []string{
	"sh", "sleep", "echo", "cat", "env", "hostname", "true", "false",
	"ls", "printf", "kill", "ps", "id", "mkdir", "rm", "touch", "test", "wget", "grep", "head",
}

// BuildBusyboxOCI writes dir/<name>.tar, an OCI image layout archive of a
// one-layer busybox image tagged ref (a full reference, e.g.
// "docker.io/library/busybox:critest"), with Cmd ["sh"], and returns its
// path. Import it with `ctr --address SOCK -n k8s.io images import TAR`.
// The layer holds /bin/busybox (from BusyboxPath), the BusyboxApplets as
// symlinks, /etc/passwd, /etc/group and /tmp. The build is reproducible.
func BuildBusyboxOCI(dir, ref string) (string, error) {
	return BuildBusyboxOCIWithCmd(dir, ref, []string{"sh"})
}

// BuildBusyboxOCIWithCmd is BuildBusyboxOCI with another Cmd, for example
// {"sleep", "2147483647"} to stand in for a pause (sandbox) image.
func BuildBusyboxOCIWithCmd(dir, ref string, cmd []string) (string, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("test image needs a static busybox (apt-get install busybox-static): %w", err)
	}
	layer, diffID, err := busyboxLayer(bin)
	if err != nil {
		return "", err
	}
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": cmd,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "berth critest: busybox-static"}},
	})
	if err != nil {
		return "", err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)},
	})
	if err != nil {
		return "", err
	}
	md := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	md["platform"] = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
	md["annotations"] = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": tagOf(ref),
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{md},
	})
	if err != nil {
		return "", err
	}

	name := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
	path := filepath.Join(dir, name)
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(layer), layer},
		{blobPath(manifest), manifest},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return "", err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// busyboxLayer returns the gzipped layer and the digest of its
// uncompressed tar (the diff ID).
func busyboxLayer(bin []byte) (gz []byte, diffID string, err error) {
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	hdr := func(h *tar.Header) {
		if err == nil {
			h.ModTime = epoch
			h.Format = tar.FormatPAX
			err = tw.WriteHeader(h)
		}
	}
	dir := func(name string, mode fs.FileMode) {
		hdr(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(mode)})
	}
	file := func(name string, mode fs.FileMode, data []byte) {
		hdr(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Size: int64(len(data))})
		if err == nil {
			_, err = tw.Write(data)
		}
	}
	dir("bin", 0o755)
	file("bin/busybox", 0o755, bin)
	for _, a := range BusyboxApplets {
		hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
	}
	dir("etc", 0o755)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	dir("root", 0o700)
	hdr(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}) // sticky, world-writable
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, "", fmt.Errorf("building the busybox layer: %w", err)
	}
	sum := sha256.Sum256(raw.Bytes())
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return z.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}

// tagOf returns the tag of ref ("latest" when it has none).
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return "latest"
}

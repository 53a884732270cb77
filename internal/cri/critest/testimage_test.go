package critest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

func TestBuildBusyboxOCI(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("%s missing (apt-get install busybox-static)", BusyboxPath)
	}
	const ref = "berth.test/critest/busybox:1.35"
	dir1, dir2 := t.TempDir(), t.TempDir()
	p1, err := BuildBusyboxOCI(dir1, ref)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := BuildBusyboxOCI(dir2, ref)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Error("two builds differ: the image is not reproducible")
	}

	files := untar(t, b1)
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	m := index.Manifests[0]
	if m.Annotations["io.containerd.image.name"] != ref || m.Annotations["org.opencontainers.image.ref.name"] != "1.35" {
		t.Errorf("annotations %v", m.Annotations)
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest, MediaType string }
	}
	if err := json.Unmarshal(files[blob(m.Digest)], &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var config struct {
		Config struct{ Cmd []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		}
	}
	if err := json.Unmarshal(files[blob(manifest.Config.Digest)], &config); err != nil {
		t.Fatal(err)
	}
	if strings.Join(config.Config.Cmd, " ") != "sh" || len(config.RootFS.DiffIDs) != 1 {
		t.Errorf("config %+v", config)
	}
	zr, err := gzip.NewReader(bytes.NewReader(files[blob(manifest.Layers[0].Digest)]))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if digest(raw) != config.RootFS.DiffIDs[0] {
		t.Error("diff ID is not the digest of the uncompressed layer")
	}
	layer := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		layer[h.Name] = h
	}
	for _, a := range []string{"sh", "sleep", "echo", "cat", "env", "hostname", "true", "false"} {
		if h := layer["bin/"+a]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, h)
		}
	}
	if h := layer["bin/busybox"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox: %+v", h)
	}

	p3, err := BuildBusyboxOCIWithCmd(dir1, "berth.test/pause:1", []string{"sleep", "2147483647"})
	if err != nil || p3 == p1 {
		t.Errorf("BuildBusyboxOCIWithCmd = %q, %v", p3, err)
	}
}

func blob(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = data
	}
}

package containerd

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// goldenPauseImageID pins the pause image: a change to pause.go or image.go
// changes it (update it on purpose); a change from run to run is a bug.
const goldenPauseImageID = "sha256:dc1cc2a28d24f50c439417e8538a34f6e8c9ff03d314f404a60c3ad7d290306f"

func readTar(t *testing.T, b []byte) (map[string][]byte, []*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	var hdrs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
		hdrs = append(hdrs, h)
	}
}

func blobOf(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	if got := digestOf(b); got != digest {
		t.Fatalf("blob %s has digest %s", digest, got)
	}
	return b
}

func TestPauseImage(t *testing.T) {
	img, err := buildPauseImage(PauseImageRef)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := buildPauseImage(PauseImageRef)
	if !bytes.Equal(img.Tar, again.Tar) || img.ID != again.ID {
		t.Fatal("pause image is not deterministic")
	}
	if img.ID != goldenPauseImageID {
		t.Errorf("pause image ID = %s, want %s (update goldenPauseImageID if pause.go or image.go changed on purpose)", img.ID, goldenPauseImageID)
	}

	files, hdrs := readTar(t, img.Tar)
	for _, h := range hdrs {
		if !h.ModTime.Equal(imageEpoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d", h.Name, h.ModTime, h.Uid, h.Gid)
		}
	}
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}

	var index ociIndex
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if index.SchemaVersion != 2 || index.MediaType != mediaTypeIndex || len(index.Manifests) != 1 {
		t.Fatalf("index = %+v", index)
	}
	md := index.Manifests[0]
	if md.Annotations[annotationRefName] != PauseImageRef || md.Annotations[annotationCtrName] != PauseImageRef {
		t.Errorf("annotations = %v, want ref name %s", md.Annotations, PauseImageRef)
	}
	if md.Platform == nil || md.Platform.Architecture != "amd64" || md.Platform.OS != "linux" {
		t.Errorf("platform = %+v", md.Platform)
	}

	var manifest ociManifest
	mb := blobOf(t, files, md.Digest)
	if int64(len(mb)) != md.Size {
		t.Errorf("manifest size %d, descriptor says %d", len(mb), md.Size)
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.MediaType != mediaTypeManifest || manifest.Config.MediaType != mediaTypeConfig || len(manifest.Layers) != 1 {
		t.Fatalf("manifest = %+v", manifest)
	}
	if manifest.Config.Digest != img.ID {
		t.Errorf("config digest %s, image ID %s", manifest.Config.Digest, img.ID)
	}

	var cfg ociImageConfig
	if err := json.Unmarshal(blobOf(t, files, manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "amd64" || cfg.OS != "linux" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pause" {
		t.Errorf("config = %+v", cfg)
	}
	layer := blobOf(t, files, manifest.Layers[0].Digest)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digestOf(layer) {
		t.Errorf("diff_ids = %v, uncompressed layer is %s", cfg.RootFS.DiffIDs, digestOf(layer))
	}
	if manifest.Layers[0].MediaType != mediaTypeLayer || manifest.Layers[0].Size != int64(len(layer)) {
		t.Errorf("layer descriptor = %+v", manifest.Layers[0])
	}

	lfiles, lhdrs := readTar(t, layer)
	if len(lhdrs) != 1 || lhdrs[0].Name != "pause" || lhdrs[0].Mode != 0o755 || lhdrs[0].Typeflag != tar.TypeReg {
		t.Fatalf("layer entries = %+v", lhdrs)
	}
	if !bytes.Equal(lfiles["pause"], pauseELF()) {
		t.Error("layer /pause differs from pauseELF()")
	}
}

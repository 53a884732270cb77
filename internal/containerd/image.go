package containerd

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// PauseImageRef is the name under which berth's pause image is imported
// into containerd (namespace k8s.io) and set as the CRI sandbox_image.
// The host "berth.local" makes plain that no registry serves it: the image
// only ever comes from the import at start-up.
const PauseImageRef = "berth.local/pause:3.10"

// OCI media types and annotations used by the pause image.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar" // uncompressed: byte-for-byte deterministic
	annotationRefName = "org.opencontainers.image.ref.name"
	annotationCtrName = "io.containerd.image.name" // what containerd's importer reads first
)

// imageEpoch is the fixed timestamp of every file and of the image config,
// so the image (and its ID, the config digest) is the same on every run.
var imageEpoch = time.Unix(0, 0).UTC()

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *ociPlatform      `json:"platform,omitempty"`
}

type ociPlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
}

type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     []ociDescriptor `json:"manifests"`
}

type ociImageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string   `json:"User,omitempty"`
		Entrypoint []string `json:"Entrypoint"`
		WorkingDir string   `json:"WorkingDir,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

// pauseImage is the pause image as an OCI image layout in one tar.
type pauseImage struct {
	Tar []byte // the OCI image layout tar, ready for `ctr images import`
	ID  string // image ID as CRI reports it: "sha256:" + config digest
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tarFile is one entry of a tar written by writeTar.
type tarFile struct {
	name string
	mode int64
	dir  bool
	data []byte
}

func writeTar(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			ModTime: imageEpoch,
			Format:  tar.FormatUSTAR, // no PAX records: nothing that varies between runs
		}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing tar header %q: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("writing tar entry %q: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildPauseImage packages pauseELF() as a one-layer OCI image named ref.
// It is deterministic: same ref, same bytes.
func buildPauseImage(ref string) (pauseImage, error) {
	layer, err := writeTar([]tarFile{{name: "pause", mode: 0o755, data: pauseELF()}})
	if err != nil {
		return pauseImage{}, err
	}
	layerDigest := digestOf(layer) // uncompressed, so the digest is also the diff ID

	var cfg ociImageConfig
	created := imageEpoch.Format(time.RFC3339)
	cfg.Created = created
	cfg.Architecture = "amd64"
	cfg.OS = "linux"
	cfg.Config.User = "65535:65535" // like the upstream pause: it needs no privileges
	cfg.Config.Entrypoint = []string{"/pause"}
	cfg.Config.WorkingDir = "/"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{layerDigest}
	cfg.History = append(cfg.History, struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}{created, "berth: hand-assembled static pause (pause.go)"})
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return pauseImage{}, err
	}

	manifest := ociManifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        ociDescriptor{MediaType: mediaTypeConfig, Digest: digestOf(cfgJSON), Size: int64(len(cfgJSON))},
		Layers:        []ociDescriptor{{MediaType: mediaTypeLayer, Digest: layerDigest, Size: int64(len(layer))}},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return pauseImage{}, err
	}

	index := ociIndex{
		SchemaVersion: 2,
		MediaType:     mediaTypeIndex,
		Manifests: []ociDescriptor{{
			MediaType: mediaTypeManifest,
			Digest:    digestOf(manifestJSON),
			Size:      int64(len(manifestJSON)),
			// The OCI spec (1.1) allows a full reference in ref.name; containerd's
			// importer prefers its own annotation, so both carry the full name.
			Annotations: map[string]string{annotationRefName: ref, annotationCtrName: ref},
			Platform:    &ociPlatform{Architecture: "amd64", OS: "linux"},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return pauseImage{}, err
	}

	blob := func(b []byte) tarFile {
		d := digestOf(b)
		return tarFile{name: "blobs/sha256/" + d[len("sha256:"):], mode: 0o444, data: b}
	}
	out, err := writeTar([]tarFile{
		{name: "oci-layout", mode: 0o444, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o444, data: indexJSON},
		{name: "blobs/", mode: 0o755, dir: true},
		{name: "blobs/sha256/", mode: 0o755, dir: true},
		blob(layer),
		blob(cfgJSON),
		blob(manifestJSON),
	})
	if err != nil {
		return pauseImage{}, err
	}
	return pauseImage{Tar: out, ID: digestOf(cfgJSON)}, nil
}

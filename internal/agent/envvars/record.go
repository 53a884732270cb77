package envvars

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Record is what the agent keeps of one container start for `berth
// explain env`: every variable in order (image ENV first, as the runtime
// merges it) with its origin. Values from Secrets are never in it.
type Record struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	UID       string    `json:"uid"`
	Container string    `json:"container"`
	Time      time.Time `json:"time"`
	Vars      []Var     `json:"vars"`
}

// NewRecord records env, blanking every value that came from a Secret.
func NewRecord(namespace, pod, uid, container string, env *Env, now time.Time) *Record {
	r := &Record{Namespace: namespace, Pod: pod, UID: uid, Container: container, Time: now.UTC()}
	for _, list := range [][]Var{env.Image, env.Vars} {
		for _, v := range list {
			if v.Secret {
				v.Value = ""
			}
			r.Vars = append(r.Vars, v)
		}
	}
	return r
}

// RecordPath is where the record of a container lives under the agent's
// data dir.
func RecordPath(dataDir, uid, container string) (string, error) {
	for _, s := range []string{uid, container} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
			return "", fmt.Errorf("invalid pod UID or container name %q", s)
		}
	}
	return filepath.Join(dataDir, "env", uid, container+".json"), nil
}

// WriteRecord stores r atomically (write, sync, rename).
func WriteRecord(dataDir string, r *Record) error {
	path, err := RecordPath(dataDir, r.UID, r.Container)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+r.Container+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadRecord reads a container's record; a missing one is an error that
// satisfies errors.Is(err, os.ErrNotExist).
func LoadRecord(dataDir, uid, container string) (*Record, error) {
	path, err := RecordPath(dataDir, uid, container)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &r, nil
}

// RemoveRecords deletes a pod's records.
func RemoveRecords(dataDir, uid string) error {
	if uid == "" || strings.ContainsAny(uid, `/\`) || uid == "." || uid == ".." {
		return errors.New("invalid pod UID")
	}
	return os.RemoveAll(filepath.Join(dataDir, "env", uid))
}

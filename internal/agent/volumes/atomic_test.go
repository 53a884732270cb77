package volumes

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var tsDirRE = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

func TestWriteAtomicLayout(t *testing.T) {
	dir := tempDir(t)
	p := payload{
		"a":          {Data: []byte("A"), Mode: 0o644},
		"b/c":        {Data: []byte("C"), Mode: 0o400},
		"b/d/e.conf": {Data: []byte("E"), Mode: 0o600},
	}
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	wrote, err := writeAtomic(dir, p, now)
	if err != nil || !wrote {
		t.Fatalf("writeAtomic = %v, %v; want true, nil", wrote, err)
	}
	ts, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatalf("..data is not a symlink: %v", err)
	}
	if !tsDirRE.MatchString(ts) || !strings.HasPrefix(ts, "..2026_01_02_15_04_05.") {
		t.Errorf("..data -> %q, want a ..2026_01_02_15_04_05.<n> directory", ts)
	}
	if got := mode(t, filepath.Join(dir, ts)); got != 0o755 {
		t.Errorf("timestamped dir mode %o, want 755", got)
	}
	want := map[string]string{"a": "..data/a", "b": "..data/b"}
	if got := listing(t, dir); !maps.Equal(got, want) {
		t.Errorf("visible entries %v, want %v", got, want)
	}
	for path, f := range p {
		full := filepath.Join(dir, path)
		if got := readFile(t, full); got != string(f.Data) {
			t.Errorf("%s = %q, want %q", path, got, f.Data)
		}
		if got := mode(t, full); got != fileMode(f.Mode) {
			t.Errorf("%s mode %o, want %o", path, got, f.Mode)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "..data_tmp")); !os.IsNotExist(err) {
		t.Errorf("..data_tmp left behind: %v", err)
	}
}

func TestWriteAtomicUpdate(t *testing.T) {
	base := payload{"a": {Data: []byte("1"), Mode: 0o644}, "dir/b": {Data: []byte("2"), Mode: 0o644}}
	tests := []struct {
		name      string
		next      payload
		wantWrote bool
		wantNames []string // visible names after the update
	}{
		{"unchanged", base, false, []string{"a", "dir"}},
		{"content changed", payload{"a": {Data: []byte("1b"), Mode: 0o644}, "dir/b": {Data: []byte("2"), Mode: 0o644}}, true, []string{"a", "dir"}},
		{"mode changed", payload{"a": {Data: []byte("1"), Mode: 0o600}, "dir/b": {Data: []byte("2"), Mode: 0o644}}, true, []string{"a", "dir"}},
		{"key removed", payload{"a": {Data: []byte("1"), Mode: 0o644}}, true, []string{"a"}},
		{"key added", payload{"a": {Data: []byte("1"), Mode: 0o644}, "dir/b": {Data: []byte("2"), Mode: 0o644}, "c": {Data: []byte("3"), Mode: 0o644}}, true, []string{"a", "c", "dir"}},
		{"nested file moved", payload{"a": {Data: []byte("1"), Mode: 0o644}, "dir/x": {Data: []byte("2"), Mode: 0o644}}, true, []string{"a", "dir"}},
		{"emptied", payload{}, true, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			if _, err := writeAtomic(dir, base, time.Now()); err != nil {
				t.Fatal(err)
			}
			oldTs, _ := os.Readlink(filepath.Join(dir, "..data"))
			wrote, err := writeAtomic(dir, tt.next, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if wrote != tt.wantWrote {
				t.Errorf("wrote = %v, want %v", wrote, tt.wantWrote)
			}
			newTs, _ := os.Readlink(filepath.Join(dir, "..data"))
			if tt.wantWrote {
				if newTs == oldTs {
					t.Errorf("..data still -> %s after an update", oldTs)
				}
				if _, err := os.Stat(filepath.Join(dir, oldTs)); !os.IsNotExist(err) {
					t.Errorf("old data dir %s not removed (%v)", oldTs, err)
				}
			} else if newTs != oldTs {
				t.Errorf("..data swapped (%s -> %s) for an unchanged payload", oldTs, newTs)
			}
			got := listing(t, dir)
			if len(got) != len(tt.wantNames) {
				t.Errorf("visible %v, want %v", got, tt.wantNames)
			}
			for _, n := range tt.wantNames {
				if got[n] != "..data/"+n {
					t.Errorf("%s -> %q, want ..data/%s", n, got[n], n)
				}
			}
			for path, f := range tt.next {
				if got := readFile(t, filepath.Join(dir, path)); got != string(f.Data) {
					t.Errorf("%s = %q, want %q", path, got, f.Data)
				}
				if got := mode(t, filepath.Join(dir, path)); got != fileMode(f.Mode) {
					t.Errorf("%s mode %o, want %o", path, got, f.Mode)
				}
			}
			// Exactly one timestamped directory remains.
			ents, _ := os.ReadDir(dir)
			n := 0
			for _, e := range ents {
				if tsDirRE.MatchString(e.Name()) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d timestamped directories, want 1", n)
			}
		})
	}
}

// An open file keeps its old content; a new open sees the new content.
func TestWriteAtomicRunningReader(t *testing.T) {
	dir := tempDir(t)
	if _, err := writeAtomic(dir, payload{"k": {Data: []byte("old"), Mode: 0o644}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := writeAtomic(dir, payload{"k": {Data: []byte("new"), Mode: 0o644}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, _ := f.Read(buf)
	if string(buf[:n]) != "old" {
		t.Errorf("open file reads %q, want old", buf[:n])
	}
	if got := readFile(t, filepath.Join(dir, "k")); got != "new" {
		t.Errorf("reopened file reads %q, want new", got)
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		path    string
		wantErr string
	}{
		{"a", ""},
		{"a/b/c", ""},
		{"..a", "invalid path: must not start with '..': ..a"},
		{"..data", "invalid path: must not start with '..': ..data"},
		{"a/..b", ""},
		{"", `invalid path: must not be empty: ""`},
		{"/etc/passwd", "invalid path: must be relative path: /etc/passwd"},
		{"a/../b", "invalid path: must not contain '..': a/../b"},
		{"..", "invalid path: must not contain '..': .."},
		{strings.Repeat("x", 256), "invalid path: filenames must be less than or equal to 255 characters"},
		{strings.Repeat("x/", 2049), "invalid path: must be less than or equal to 4096 characters"},
	}
	for _, tt := range tests {
		err := validatePath(tt.path)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("validatePath(%.20q) = %q, want %q", tt.path, got, tt.wantErr)
		}
	}
}

func TestWriteAtomicRejectsBadPayload(t *testing.T) {
	dir := tempDir(t)
	if _, err := writeAtomic(dir, payload{"../escape": {Data: []byte("x"), Mode: 0o644}}, time.Now()); err == nil {
		t.Fatal("writeAtomic accepted ../escape")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("rejected payload left %d entries", len(ents))
	}
}

func TestPayloadDigest(t *testing.T) {
	a := payload{"k": {Data: []byte("v"), Mode: 0o644}}
	if a.digest() != (payload{"k": {Data: []byte("v"), Mode: 0o644}}).digest() {
		t.Error("equal payloads have different digests")
	}
	for name, b := range map[string]payload{
		"data": {"k": {Data: []byte("w"), Mode: 0o644}},
		"mode": {"k": {Data: []byte("v"), Mode: 0o600}},
		"path": {"j": {Data: []byte("v"), Mode: 0o644}},
		"more": {"k": {Data: []byte("v"), Mode: 0o644}, "l": {}},
	} {
		if a.digest() == b.digest() {
			t.Errorf("%s change keeps the digest", name)
		}
	}
}

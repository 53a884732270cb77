package envvars

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// fileKey reads a fileKeyRef: the key's value in the env file at path
// inside the volume (the path cannot leave it), and the file's host path.
func (b *builder) fileKey(r *corev1.FileKeySelector) (string, string, error) {
	var dir string
	ok := false
	if b.in.VolumePath != nil {
		dir, ok = b.in.VolumePath(r.VolumeName)
	}
	if !ok || dir == "" {
		return "", "", fmt.Errorf("cannot find the volume %q referenced by FileKeyRef", r.VolumeName)
	}
	file, err := secureJoin(dir, r.Path)
	if err != nil {
		return "", "", err
	}
	val, err := ParseEnvFile(file, r.Key)
	if err != nil {
		return "", file, errors.New("couldn't parse env file")
	}
	return val, file, nil
}

// ParseEnvFile is the kubelet's env file parser (KEP-3721): KEY='value'
// lines, values in single quotes taken literally (they may span lines),
// '#' comments, blank lines; "KEY= 'v'" assigns the empty string. It
// returns the first value of key, "" when it is absent.
func ParseEnvFile(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("failed to open environment variable file %q: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimLeft(sc.Text(), " \t")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, rest, ok := strings.Cut(text, "=")
		if !ok {
			return "", fmt.Errorf("line %d: missing '='", line)
		}
		if name == "" || strings.TrimRight(name, " \t") != name {
			return "", fmt.Errorf("line %d: bad variable name", line)
		}
		if trimmed := strings.TrimLeft(rest, " \t"); trimmed != rest {
			if name == key { // KEY= 'v': empty, as a shell would
				return "", nil
			}
			continue
		}
		if !strings.HasPrefix(rest, "'") {
			return "", fmt.Errorf("line %d: value must be enclosed in single quotes", line)
		}
		rest = rest[1:]
		start := line
		var val strings.Builder
		for {
			end := strings.IndexByte(rest, '\'')
			if end >= 0 {
				val.WriteString(rest[:end])
				after := strings.TrimLeft(rest[end+1:], " \t")
				if after != "" && !strings.HasPrefix(after, "#") {
					return "", fmt.Errorf("line %d: unexpected content after closing quote", line)
				}
				break
			}
			val.WriteString(rest)
			val.WriteByte('\n')
			if !sc.Scan() {
				return "", fmt.Errorf("line %d: unclosed single quote", start)
			}
			line++
			rest = sc.Text()
		}
		if name == key {
			return val.String(), nil
		}
	}
	return "", sc.Err()
}

// secureJoin joins root and an untrusted relative path, resolving
// symbolic links as if root were "/", so the result stays inside root
// (filepath-securejoin's SecureJoin).
func secureJoin(root, unsafe string) (string, error) {
	var resolved string // relative to root, clean, no links
	pending := strings.Split(filepath.ToSlash(unsafe), "/")
	links := 0
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir("/" + resolved)[1:]
			continue
		}
		next := filepath.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next // missing or not a link: taken as is
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("secure join: too many symbolic links in %q", unsafe)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = ""
		}
		pending = append(strings.Split(filepath.ToSlash(target), "/"), pending...)
	}
	return filepath.Join(root, resolved), nil
}

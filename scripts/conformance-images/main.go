// Command conformance-images builds the container images that the node
// areas of Kubernetes' e2e suite run, from programs built on this machine
// (no image comes from the internet), pushes them to a registry under the
// names and tags test/utils/image/manifest.go of the emulated version
// expects, and writes the KUBE_TEST_REPO_LIST file that points the suite
// at that registry. `make conformance` runs it (conformance/run.sh).
//
// The images and what they are made of:
//
//	busybox:1.37.0-2         Debian's busybox-static, every applet linked in /bin
//	agnhost:2.66.1, 2.55     agnhost (built from source, CGO_ENABLED=0) on the
//	                         busybox applets, plus bash-static and a curl stand-in,
//	                         laid out as upstream's Alpine-based image
//	pause:3.10.2             berth's own static pause program
//	nonroot:1.5              busybox, USER 1234
//	nonewprivs:1.4           busybox plus nnp (from source), setuid root
//	nginx:1.27.0-2, 1.28.0-2 STAND-IN: busybox httpd on port 80 (the suite only
//	                         swaps a pod's image to it and waits for Running)
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/containerd"
)

func main() {
	var o opts
	flag.StringVar(&o.registry, "registry", "", "registry host:port to push to (plain HTTP, e.g. 127.0.0.1:5000)")
	flag.StringVar(&o.repoList, "repo-list", "", "write the KUBE_TEST_REPO_LIST file here")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "static busybox (Debian busybox-static)")
	flag.StringVar(&o.bash, "bash", "/bin/bash-static", "static bash (Debian bash-static)")
	flag.StringVar(&o.agnhost, "agnhost", "", "agnhost binary (static)")
	flag.StringVar(&o.nnp, "nnp", "", "nonewprivs' nnp binary (static)")
	flag.StringVar(&o.curl, "curl", "", "curl stand-in binary (static)")
	flag.StringVar(&o.porter, "porter-dir", "", "agnhost's porter directory (localhost.crt, localhost.key)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "conformance-images: %v\n", err)
		os.Exit(1)
	}
}

type opts struct {
	registry, repoList, busybox, bash, agnhost, nnp, curl, porter string
}

// entry is one file of a layer.
type entry struct {
	mode int64
	data []byte
	link string // symlink target when set
	dir  bool
}

type files map[string]entry

func (f files) file(p string, mode int64, data []byte) {
	f[strings.TrimPrefix(p, "/")] = entry{mode: mode, data: data}
}
func (f files) symlink(p, target string) {
	f[strings.TrimPrefix(p, "/")] = entry{link: target, mode: 0o777}
}
func (f files) dir(p string, mode int64) {
	f[strings.TrimPrefix(p, "/")] = entry{dir: true, mode: mode}
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// layer writes f as one OCI layer, parents before children, in a stable order.
func layer(f files) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var addParents func(p string) error
	addParents = func(p string) error {
		d := path.Dir(p)
		if d == "." || seen[d] {
			return nil
		}
		if err := addParents(d); err != nil {
			return err
		}
		seen[d] = true
		mode := int64(0o755)
		if e, ok := f[d]; ok && e.dir {
			mode = e.mode
		}
		return tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: epoch})
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := f[n]
		if err := addParents(n); err != nil {
			return nil, err
		}
		var hdr *tar.Header
		switch {
		case e.dir:
			if seen[n] {
				continue
			}
			seen[n] = true
			hdr = &tar.Header{Name: n + "/", Typeflag: tar.TypeDir, Mode: e.mode, ModTime: epoch}
		case e.link != "":
			hdr = &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: e.link, Mode: e.mode, ModTime: epoch}
		default:
			hdr = &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: e.mode, Size: int64(len(e.data)), ModTime: epoch}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// imageSpec is one image: its layers (bottom first) and its config.
type imageSpec struct {
	layers     []files
	entrypoint []string
	cmd        []string
	user       string
	workdir    string
}

func build(s imageSpec) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	for _, f := range s.layers {
		l, err := layer(f)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Entrypoint, cfg.Config.Cmd = s.entrypoint, s.cmd
	cfg.Config.User, cfg.Config.WorkingDir = s.user, s.workdir
	cfg.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cfg)
}

// busyboxApplets lists the applets of the static busybox with their
// install paths (bin/sh, usr/bin/env, ...).
func busyboxApplets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s: %w", bin, err)
	}
	var list []string
	for _, l := range strings.Fields(string(out)) {
		list = append(list, strings.TrimPrefix(l, "/"))
	}
	return list, nil
}

// The accounts of the upstream busybox image.
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nsync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
	busyboxGroup  = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nwheel:x:10:root\nmail:x:12:\nwww-data:x:33:\noperator:x:37:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65533:\nnobody:x:65534:\n"
)

// busyboxBase is the upstream busybox image's layout: the busybox binary
// with every applet linked in /bin, and its accounts.
func busyboxBase(bin []byte, applets []string) files {
	f := files{}
	f.file("bin/busybox", 0o755, bin)
	for _, a := range applets {
		if n := "bin/" + path.Base(a); n != "bin/busybox" {
			f.symlink(n, "busybox")
		}
	}
	f.file("etc/passwd", 0o644, []byte(busyboxPasswd))
	f.file("etc/group", 0o644, []byte(busyboxGroup))
	for _, d := range []string{"dev", "proc", "sys", "root", "home", "var/www"} {
		f.dir(d, 0o755)
	}
	f.dir("tmp", 0o1777)
	return f
}

// alpineBase is the layout of upstream agnhost's Alpine base: busybox's
// applets at their usual paths, bash, curl, and agnhost's accounts.
func alpineBase(bin, bash, curl []byte, applets []string) files {
	f := files{}
	f.file("bin/busybox", 0o755, bin)
	for _, a := range applets {
		if a != "bin/busybox" {
			f.symlink(a, "/bin/busybox")
		}
	}
	f.file("bin/bash", 0o755, bash)
	f.file("usr/bin/curl", 0o755, curl)
	f.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\nuser-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"))
	f.file("etc/group", 0o644, []byte("root:x:0:root\nnobody:x:65534:\nuser-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"))
	for _, d := range []string{"dev", "proc", "sys", "root", "home/user-defined-in-image", "uploads"} {
		f.dir(d, 0o755)
	}
	f.dir("tmp", 0o1777)
	return f
}

func run(o opts) error {
	if o.registry == "" || o.agnhost == "" || o.nnp == "" || o.curl == "" || o.porter == "" {
		return fmt.Errorf("-registry, -agnhost, -nnp, -curl and -porter-dir are required")
	}
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s (see conformance/run.sh for what builds or installs it): %w", p, err)
		}
		return b, nil
	}
	bb, err := read(o.busybox)
	if err != nil {
		return err
	}
	applets, err := busyboxApplets(o.busybox)
	if err != nil {
		return err
	}
	bash, err := read(o.bash)
	if err != nil {
		return err
	}
	agnhost, err := read(o.agnhost)
	if err != nil {
		return err
	}
	nnp, err := read(o.nnp)
	if err != nil {
		return err
	}
	curl, err := read(o.curl)
	if err != nil {
		return err
	}
	crt, err := read(filepath.Join(o.porter, "localhost.crt"))
	if err != nil {
		return err
	}
	key, err := read(filepath.Join(o.porter, "localhost.key"))
	if err != nil {
		return err
	}

	busybox := busyboxBase(bb, applets)
	agn := files{}
	agn.file("agnhost", 0o755, agnhost)
	agn.symlink("agnhost-2", "agnhost")
	agn.file("localhost.crt", 0o644, crt)
	agn.file("localhost.key", 0o644, key)
	agnImage := imageSpec{layers: []files{alpineBase(bb, bash, curl, applets), agn}, entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}}
	nnpFiles := files{}
	nnpFiles.file("usr/local/bin/nnp", 0o4755, nnp)
	pause := files{}
	pause.file("pause", 0o755, containerd.PauseProgram())
	nginx := files{}
	nginx.file("usr/share/nginx/html/index.html", 0o644, []byte("<html><body>berth conformance nginx stand-in</body></html>\n"))
	nginxImage := imageSpec{layers: []files{busybox, nginx}, cmd: []string{"httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"}}

	e2e := o.registry + "/e2e-test-images/"
	images := []struct {
		ref  string
		spec imageSpec
	}{
		{e2e + "busybox:1.37.0-2", imageSpec{layers: []files{busybox}, cmd: []string{"sh"}}},
		{e2e + "agnhost:2.66.1", agnImage},
		{e2e + "agnhost:2.55", agnImage},
		{e2e + "nonroot:1.5", imageSpec{layers: []files{busybox}, cmd: []string{"sh"}, user: "1234"}},
		{e2e + "nonewprivs:1.4", imageSpec{layers: []files{busybox, nnpFiles}, cmd: []string{"nnp"}}},
		{e2e + "nginx:1.27.0-2", nginxImage},
		{e2e + "nginx:1.28.0-2", nginxImage},
		{o.registry + "/pause:3.10.2", imageSpec{layers: []files{pause}, entrypoint: []string{"/pause"}}},
	}
	// Tags of one image (agnhost, nginx) share what was built for the first.
	built := map[string]v1.Image{}
	for _, im := range images {
		start := time.Now()
		repo, _, _ := strings.Cut(strings.TrimPrefix(im.ref, o.registry), ":")
		img, ok := built[repo]
		if !ok {
			var err error
			if img, err = build(im.spec); err != nil {
				return fmt.Errorf("building %s: %w", im.ref, err)
			}
			built[repo] = img
		}
		ref, err := name.ParseReference(im.ref, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img); err != nil {
			return fmt.Errorf("pushing %s: %w", im.ref, err)
		}
		fmt.Printf("pushed %s (%v)\n", im.ref, time.Since(start).Round(time.Millisecond))
	}
	if o.repoList != "" {
		// The private and invalid registries stay as upstream has them:
		// the tests that use them expect the pull to fail.
		list := fmt.Sprintf("promoterE2eRegistry: %[1]s/e2e-test-images\nbuildImageRegistry: %[1]s/build-image\ngcEtcdRegistry: %[1]s\ngcRegistry: %[1]s\nsigStorageRegistry: %[1]s/sig-storage\ndockerLibraryRegistry: %[1]s/library\ncloudProviderGcpRegistry: %[1]s/cloud-provider-gcp\n", o.registry)
		if err := os.WriteFile(o.repoList, []byte(list), 0o644); err != nil {
			return err
		}
	}
	return nil
}

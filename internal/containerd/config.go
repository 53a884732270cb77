package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Config configures the containerd child process. The zero value of every
// field but DataDir picks a working default.
type Config struct {
	// DataDir is required. containerd keeps everything under
	// DataDir/containerd (config, root, state, sockets, log) and CNI under
	// DataDir/cni (net.d, IPAM leases).
	DataDir string
	// ClusterCIDR is the pod IP range handed out by host-local IPAM on the
	// bridge (default 10.244.0.0/16). A comma-separated pair (IPv4,IPv6)
	// gives dual-stack pods.
	ClusterCIDR string
	// Binary is the containerd executable (default "containerd" from PATH).
	// ctr is looked up next to it first, then in PATH.
	Binary string
	// NetworkName names the CNI network. The CNI cache (/var/lib/cni) is
	// shared by every runtime on the host and keyed by this name, so the
	// default, "berth-<hash of DataDir>", is unique per data dir.
	NetworkName string
	// RegistryCAs maps a registry host ("harbor.example.com" or
	// "10.0.0.5:5000") to a PEM CA bundle file that signs its HTTPS
	// certificate; containerd trusts it for pulls from that host only.
	RegistryCAs map[string]string
	// OCIRuntime is containerd's default runtime: "auto" (the default:
	// crun when installed and usable, else runc), "crun" or "runc". Every
	// installed one is registered as a CRI runtime handler of that name.
	OCIRuntime string
	// Log receives supervision events (default slog.Default()).
	Log *slog.Logger
}

// DefaultClusterCIDR is the pod range when Config.ClusterCIDR is empty.
const DefaultClusterCIDR = "10.244.0.0/16"

// maxSocketPath is the longest unix socket path the kernel accepts
// (sun_path is 108 bytes including the terminating NUL).
const maxSocketPath = 107

// layout holds every path and name derived from a Config.
type layout struct {
	dataDir    string
	dir        string // DataDir/containerd
	configFile string
	root       string
	state      string
	socket     string
	ttrpc      string
	debug      string
	opt        string
	runcRoot   string
	crunRoot   string
	certsDir   string
	logFile    string
	pauseTar   string

	cniDir   string // DataDir/cni
	confDir  string
	ipamDir  string
	conflist string

	network string
	bridge  string
	subnets []netip.Prefix
	// appArmor: the kernel enforces AppArmor, so containerd may apply
	// the profiles pods ask for (and its default one).
	appArmor bool
}

// hostAppArmor reports whether the kernel has AppArmor enabled, as
// containerd's own check (the apparmor module's "enabled" parameter).
func hostAppArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

var ifaceName = regexp.MustCompile(`^berth-[A-Za-z0-9_.-]{1,9}$`) // ≤ 15 bytes (IFNAMSIZ-1)

// bridgeName gives the Linux bridge for a network: the network name itself
// when it is one of ours ("berth-…") and fits in 15 bytes, otherwise
// "berth-" and a hash of it. The prefix keeps clear of host interfaces.
func bridgeName(network string) string {
	if ifaceName.MatchString(network) {
		return network
	}
	return "berth-" + shortHash(network)
}

// parseClusterCIDR accepts one prefix or an IPv4,IPv6 pair.
func parseClusterCIDR(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var v4, v6 int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q: %w", s, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("cluster CIDR %q: %s has host bits set (did you mean %s?)", s, part, p.Masked())
		}
		if p.Addr().Is4() {
			v4++
			if p.Bits() > 30 {
				return nil, fmt.Errorf("cluster CIDR %q: %s is too small for pods (at most /30)", s, part)
			}
		} else {
			v6++
			if p.Bits() > 126 {
				return nil, fmt.Errorf("cluster CIDR %q: %s is too small for pods (at most /126)", s, part)
			}
		}
		out = append(out, p)
	}
	if v4 > 1 || v6 > 1 {
		return nil, fmt.Errorf("cluster CIDR %q: at most one IPv4 and one IPv6 range", s)
	}
	return out, nil
}

func newLayout(cfg Config) (layout, error) {
	if cfg.DataDir == "" {
		return layout{}, errors.New("containerd: Config.DataDir is required")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return layout{}, fmt.Errorf("containerd: data dir %q: %w", cfg.DataDir, err)
	}
	cidr := cfg.ClusterCIDR
	if cidr == "" {
		cidr = DefaultClusterCIDR
	}
	subnets, err := parseClusterCIDR(cidr)
	if err != nil {
		return layout{}, err
	}
	network := cfg.NetworkName
	if network == "" {
		network = "berth-" + shortHash(dataDir)
	}
	dir := filepath.Join(dataDir, "containerd")
	cni := filepath.Join(dataDir, "cni")
	l := layout{
		dataDir:    dataDir,
		dir:        dir,
		configFile: filepath.Join(dir, "config.toml"),
		root:       filepath.Join(dir, "root"),
		state:      filepath.Join(dir, "state"),
		socket:     filepath.Join(dir, "containerd.sock"),
		ttrpc:      filepath.Join(dir, "containerd.sock.ttrpc"),
		debug:      filepath.Join(dir, "debug.sock"),
		opt:        filepath.Join(dir, "opt"),
		runcRoot:   filepath.Join(dir, "runc"),
		crunRoot:   filepath.Join(dir, "crun"),
		certsDir:   filepath.Join(dir, "certs.d"),
		logFile:    filepath.Join(dir, "containerd.log"),
		pauseTar:   filepath.Join(dir, "pause-image.tar"),
		cniDir:     cni,
		confDir:    filepath.Join(cni, "net.d"),
		ipamDir:    filepath.Join(cni, "ipam"),
		conflist:   filepath.Join(cni, "net.d", "10-"+network+".conflist"),
		network:    network,
		bridge:     bridgeName(network),
		subnets:    subnets,
		appArmor:   hostAppArmor(),
	}
	if n := len(l.ttrpc); n > maxSocketPath {
		return layout{}, fmt.Errorf("containerd: data dir %q is too long for containerd's unix sockets (%s is %d bytes, the limit is %d): choose a shorter data dir", cfg.DataDir, l.ttrpc, n, maxSocketPath)
	}
	return l, nil
}

// tomlQuote writes s as a TOML basic string.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// renderConfig returns containerd's config.toml. rts are the OCI runtimes
// to register, the first being the default.
func renderConfig(l layout, sandboxImage string, rts []ociRuntime) string {
	q := tomlQuote
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cri := `[plugins."io.containerd.grpc.v1.cri"`
	w("# Generated by berth on every start; edits are overwritten.")
	w("version = 2")
	w("root = %s", q(l.root))
	w("state = %s", q(l.state))
	w(`disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",`)
	w(`  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",`)
	w(`  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]`)
	w("")
	w("[grpc]")
	w("  address = %s", q(l.socket))
	w("[ttrpc]")
	w("  address = %s", q(l.ttrpc))
	w("[debug]")
	w("  address = %s", q(l.debug))
	w(`  level = "info"`)
	w("[metrics]")
	w(`  address = ""`)
	w("")
	w("[plugins]")
	w(`  [plugins."io.containerd.internal.v1.opt"]`)
	w("    path = %s", q(l.opt))
	w("  %s]", cri)
	w("    sandbox_image = %s", q(sandboxImage))
	w(`    stream_server_address = "127.0.0.1"`)
	w(`    stream_server_port = "0"`)
	w("    enable_selinux = false")
	// AppArmor follows the kernel: containerd refuses a profile it
	// cannot enforce (the pod then fails to start with its message).
	w("    disable_apparmor = %t", !l.appArmor)
	w("    max_container_log_line_size = 16384")
	w("    # Required where CAP_SYS_RESOURCE is missing: clamp oom_score_adj to containerd's own.")
	w("    restrict_oom_score_adj = true")
	w("    %s.containerd]", cri)
	w(`      snapshotter = "overlayfs"`)
	def := RuntimeRunc
	if len(rts) > 0 {
		def = rts[0].name
	}
	w("      default_runtime_name = %s", q(def))
	for _, rt := range rts {
		w("      %s.containerd.runtimes.%s]", cri, rt.name)
		w(`        runtime_type = "io.containerd.runc.v2"`)
		w("        %s.containerd.runtimes.%s.options]", cri, rt.name)
		if rt.binary != "" {
			w("          BinaryName = %s", q(rt.binary))
		}
		w("          Root = %s", q(rt.root))
		w("          SystemdCgroup = false")
	}
	w("    %s.cni]", cri)
	w(`      bin_dir = "/usr/lib/cni"`)
	w("      conf_dir = %s", q(l.confDir))
	w("      max_conf_num = 1")
	w("    %s.registry]", cri)
	w("      config_path = %s", q(l.certsDir))
	return b.String()
}

// CNI conflist types (containernetworking-plugins 1.1 accepts cniVersion 1.0.0).
type (
	cniConflist struct {
		CNIVersion string      `json:"cniVersion"`
		Name       string      `json:"name"`
		Plugins    []cniPlugin `json:"plugins"`
	}
	cniPlugin struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge,omitempty"`
		IsGateway    bool            `json:"isGateway,omitempty"`
		IPMasq       bool            `json:"ipMasq,omitempty"`
		HairpinMode  bool            `json:"hairpinMode,omitempty"`
		IPAM         *cniIPAM        `json:"ipam,omitempty"`
		Capabilities map[string]bool `json:"capabilities,omitempty"`
	}
	cniIPAM struct {
		Type    string       `json:"type"`
		Ranges  [][]cniRange `json:"ranges"`
		Routes  []cniRoute   `json:"routes"`
		DataDir string       `json:"dataDir"`
	}
	cniRange struct {
		Subnet string `json:"subnet"`
	}
	cniRoute struct {
		Dst string `json:"dst"`
	}
)

// renderConflist returns the CNI network: a bridge (gateway, NAT, hairpin)
// with host-local IPAM over the whole cluster CIDR, then portmap for
// hostPort. The loopback network is added by containerd itself.
func renderConflist(l layout) string {
	ipam := &cniIPAM{Type: "host-local", DataDir: l.ipamDir}
	for _, p := range l.subnets {
		ipam.Ranges = append(ipam.Ranges, []cniRange{{Subnet: p.String()}})
		if p.Addr().Is4() {
			ipam.Routes = append(ipam.Routes, cniRoute{Dst: "0.0.0.0/0"})
		} else {
			ipam.Routes = append(ipam.Routes, cniRoute{Dst: "::/0"})
		}
	}
	list := cniConflist{
		CNIVersion: "1.0.0",
		Name:       l.network,
		Plugins: []cniPlugin{
			{Type: "bridge", Bridge: l.bridge, IsGateway: true, IPMasq: true, HairpinMode: true, IPAM: ipam},
			{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		panic(err) // plain structs of strings and bools always marshal
	}
	return string(out) + "\n"
}

// renderHostsTOML is certs.d/<host>/hosts.toml for a registry served over
// HTTPS with a private CA.
func renderHostsTOML(host, caFile string) string {
	return fmt.Sprintf("server = %s\n\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %s\n",
		tomlQuote("https://"+host), tomlQuote("https://"+host), tomlQuote(caFile))
}

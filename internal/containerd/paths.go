package containerd

// Paths are the names a berth data dir's containerd and CNI network use on
// the host, for `berth reset` to find and remove them.
type Paths struct {
	DataDir    string // absolute
	ConfigFile string // containerd's config.toml
	Socket     string // containerd's CRI socket
	Network    string // CNI network name (keys /var/lib/cni/results)
	Bridge     string // the CNI bridge interface
	Binary     string // containerd, from PATH or the system directories ("" if absent)
}

// PathsOf returns the Paths of the berth instance with dataDir (with the
// default network name, as `berth server` uses).
func PathsOf(dataDir string) (Paths, error) {
	l, err := newLayout(Config{DataDir: dataDir})
	if err != nil {
		return Paths{}, err
	}
	bin, _ := lookPath("containerd")
	return Paths{DataDir: l.dataDir, ConfigFile: l.configFile, Socket: l.socket, Network: l.network, Bridge: l.bridge, Binary: bin}, nil
}

// ChildEnv is the environment containerd runs with (system directories
// on PATH, for its shims and runc).
func ChildEnv() []string { return childEnv() }

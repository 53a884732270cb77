package etcd

import (
	"sync/atomic"
	"testing"
)

func TestEmbedConfigDefaults(t *testing.T) {
	ecfg, _, err := embedConfig(EmbeddedConfig{Dir: t.TempDir()}, new(atomic.Bool))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", ecfg.Name, DefaultName},
		{"auto-compaction mode", ecfg.AutoCompactionMode, "revision"},
		{"auto-compaction retention", ecfg.AutoCompactionRetention, "10000"},
		{"unsafe no fsync", ecfg.UnsafeNoFsync, false},
		{"grpc gateway", ecfg.EnableGRPCGateway, false},
		{"log level", ecfg.LogLevel, "error"},
		{"client URL", ecfg.ListenClientUrls[0].String(), "http://127.0.0.1:0"},
		{"peer URL", ecfg.ListenPeerUrls[0].String(), "http://127.0.0.1:0"},
		{"initial cluster", ecfg.InitialCluster, DefaultName + "=http://127.0.0.1:0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestEmbedConfigOverrides(t *testing.T) {
	ecfg, _, err := embedConfig(EmbeddedConfig{
		Dir: t.TempDir(), Name: "n1", AutoCompactionMode: "periodic", AutoCompactionRetention: "5m",
	}, new(atomic.Bool))
	if err != nil {
		t.Fatal(err)
	}
	if ecfg.Name != "n1" || ecfg.AutoCompactionMode != "periodic" || ecfg.AutoCompactionRetention != "5m" ||
		ecfg.InitialCluster != "n1=http://127.0.0.1:0" {
		t.Fatalf("got name %q, compaction %q %q, cluster %q",
			ecfg.Name, ecfg.AutoCompactionMode, ecfg.AutoCompactionRetention, ecfg.InitialCluster)
	}
}

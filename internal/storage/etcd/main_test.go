package etcd_test

import (
	"io"
	"os"
	"testing"

	"google.golang.org/grpc/grpclog"
)

func TestMain(m *testing.M) {
	// Child processes of TestQuietByDefault and TestSurvivesKill.
	if dir := os.Getenv(quietHelperEnv); dir != "" {
		os.Exit(runQuietHelper(dir)) // with grpc's own default logging
	}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	if dir := os.Getenv(killHelperEnv); dir != "" {
		os.Exit(runKillHelper(dir))
	}
	os.Exit(m.Run())
}

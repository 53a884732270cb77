package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a benchmark under a context that the first Ctrl-C (or SIGTERM)
// cancels, so that run can undo what it started; a second signal kills at
// once (the default action). When run fails, Main prints the error after
// "bench/<prog>: " and exits with status 1; an interrupted run says so and
// adds undone, what was stopped and removed.
func Main(prog, undone string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once (the default).
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w); %s", err, undone)
		}
		fmt.Fprintf(os.Stderr, "bench/%s: %v\n", prog, err)
		os.Exit(1)
	}
}

// RequireRoot exits with status 2 unless the benchmark runs as root, which
// berth needs to start containerd, runc and CNI.
func RequireRoot(prog string) {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "bench/%s: must run as root: berth starts containerd, runc and CNI "+
			"(make build && sudo go run ./bench/%s)\n", prog, prog)
		os.Exit(2)
	}
}

package cri

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{codes.NotFound, `an error occurred when try to find container "x": not found`}, `not found: an error occurred when try to find container "x": not found`},
		{&Error{codes.NotFound, "not found: already prefixed"}, "not found: already prefixed"},
		{&Error{codes.NotFound, ""}, "not found"},
		{&Error{codes.Canceled, "context canceled"}, "context canceled"},
		{&Error{codes.Unknown, "failed to create containerd task"}, "failed to create containerd task"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%v %q: Error() = %q, want %q", tc.err.Code, tc.err.Message, got, tc.want)
		}
	}
	// The brief's style and *Error agree.
	e := fromGRPC(status.Error(codes.NotFound, "gone"))
	if e.Error() != fmt.Errorf("%w: %s", ErrNotFound, "gone").Error() {
		t.Errorf("%q", e)
	}
	if !errors.Is(fromGRPC(status.Error(codes.Canceled, "x")), context.Canceled) {
		t.Error("Canceled is not context.Canceled")
	}
	plain := errors.New("plain")
	if fromGRPC(plain) != plain || Message(plain) != "plain" || Code(plain) != codes.Unknown || Code(nil) != codes.OK || Message(nil) != "" {
		t.Error("non-gRPC errors must pass through")
	}
	// ToGRPC round-trips.
	if back := fromGRPC(ToGRPC(context.DeadlineExceeded)); !errors.Is(back, ErrDeadline) || !errors.Is(back, context.DeadlineExceeded) {
		t.Errorf("ToGRPC(context.DeadlineExceeded) → %v", back)
	}
	for _, err := range []error{NewError(codes.NotFound, "m"), fmt.Errorf("%w: m", ErrUnavailable), plain} {
		back := fromGRPC(ToGRPC(err))
		for _, kind := range []error{ErrNotFound, ErrUnavailable, ErrDeadline} {
			if errors.Is(err, kind) != errors.Is(back, kind) {
				t.Errorf("ToGRPC(%v) → %v loses or gains %v", err, back, kind)
			}
		}
	}
}

func TestSocketPath(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///run/containerd/containerd.sock": "/run/containerd/containerd.sock",
		"/run/crio/crio.sock":                    "/run/crio/crio.sock",
		"unix:/tmp/x.sock":                       "/tmp/x.sock",
	} {
		if got, err := socketPath(in); err != nil || got != want {
			t.Errorf("socketPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "unix://", "tcp://localhost:1", "npipe:////./pipe/x"} {
		if _, err := socketPath(in); err == nil {
			t.Errorf("socketPath(%q) succeeded", in)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{-1: 0, 0: 0, 1: 1, time.Second: 1, time.Second + 1: 2, 90 * time.Second: 90} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

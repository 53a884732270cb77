package prober

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/agent/envvars"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/agent/httpget"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// outcome is one probe's verdict (the kubelet's probe.Result); String is
// how error events name it.
type outcome int8

const (
	outcomeSuccess outcome = iota
	outcomeWarning         // success, with a warning event
	outcomeFailure
	outcomeUnknown
)

func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeWarning:
		return "warning"
	case outcomeFailure:
		return "failure"
	}
	return "unknown"
}

// maxProbeRetries is how often a probe that errored (as opposed to one
// that failed) is tried again at once.
const maxProbeRetries = 3

// maxOutput caps what is read of an exec probe's output or an HTTP body.
const maxOutput = 10 << 10

// execSlack is how long past its timeout an exec probe's CRI call may
// take before the prober gives up on the runtime.
const execSlack = 5 * time.Second

// errNoPodIP is returned when a network probe has no host to reach.
var errNoPodIP = errors.New("pod has no IP address to probe")

// runProbe runs a probe, retrying it when it errors. output is the text
// events show.
func (m *Manager) runProbe(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP, containerID, podDesc string) (out outcome, output string, err error) {
	for i := 0; i < maxProbeRetries; i++ {
		out, output, err = m.probeOnce(ctx, p, c, podIP, containerID, podDesc)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return out, output, err
}

func (m *Manager) probeOnce(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP, containerID, podDesc string) (outcome, string, error) {
	timeout := defaultTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	switch {
	case p.Exec != nil:
		return m.probeExec(ctx, containerID, expandCommand(p.Exec.Command, c.Env), timeout)
	case p.HTTPGet != nil:
		req, err := m.http.request(ctx, p.HTTPGet, c, podIP)
		if err != nil {
			return outcomeUnknown, "", err
		}
		return m.http.probe(req, timeout)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return outcomeUnknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		if host == "" {
			return outcomeUnknown, "", errNoPodIP
		}
		return probeTCP(ctx, host, port, timeout)
	case p.GRPC != nil:
		if podIP == "" {
			return outcomeUnknown, "", errNoPodIP
		}
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return probeGRPC(ctx, podIP, service, int(p.GRPC.Port), timeout, m.userAgent)
	}
	return outcomeUnknown, "", fmt.Errorf("missing probe handler for %s:%s", podDesc, c.Name)
}

// probeExec runs the command in the container through CRI ExecSync: exit
// code 0 succeeds; the output is stdout then stderr, at most 10 KiB.
func (m *Manager) probeExec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (outcome, string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout+execSlack)
	defer cancel()
	res, err := m.cfg.Runtime.ExecSync(cctx, containerID, cmd, timeout)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return outcomeFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return outcomeUnknown, "", err
	}
	out := make([]byte, 0, len(res.Stdout)+len(res.Stderr))
	out = append(append(out, res.Stdout...), res.Stderr...)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	if res.ExitCode != 0 {
		return outcomeFailure, string(out), nil
	}
	return outcomeSuccess, string(out), nil
}

// resolvePort is the port a probe names: a number, or the name of one of
// the container's ports (falling back to a number written as a string).
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	return httpget.ResolvePort(p, c)
}

// dial opens a TCP connection for a probe. Like the kubelet's, it sets
// SO_LINGER so that closed probe connections do not pile up in TIME_WAIT.
func dial(ctx context.Context, network, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(1)
	}
	return conn, nil
}

// probeTCP succeeds when a connection opens within the timeout; the
// output of a failure is the dial error ("dial tcp 10.0.0.5:80: connect:
// connection refused").
func probeTCP(ctx context.Context, host string, port int, timeout time.Duration) (outcome, string, error) {
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}

// expandCommand expands $(VAR) in an exec probe's command as the kubelet
// does (ExpandContainerCommandOnlyStatic): against the container's literal
// env values only, valueFrom entries empty.
func expandCommand(cmd []string, env []corev1.EnvVar) []string {
	return envvars.ExpandStatic(cmd, env)
}

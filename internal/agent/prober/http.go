package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/agent/httpget"
	corev1 "k8s.io/api/core/v1"
)

// httpProber runs httpGet probes as the kubelet does: no proxy, no
// keep-alive, no compression, TLS without certificate verification,
// redirects followed only to the same host.
type httpProber struct {
	transport *http.Transport
	userAgent string
}

func newHTTPProber(userAgent string) *httpProber {
	return &httpProber{
		userAgent: userAgent,
		transport: &http.Transport{
			// Probes reach the pod's own server, which usually has a
			// self-signed certificate or none for the pod IP.
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
			DisableKeepAlives:   true,
			DisableCompression:  true,
			Proxy:               nil,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dial(ctx, network, addr, 0)
			},
		},
	}
}

// request builds the probe's GET request (httpget.NewRequest, with the
// kube-probe User-Agent); a probe with no host and no pod IP errs with
// errNoPodIP.
func (p *httpProber) request(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	if g.Host == "" && podIP == "" {
		return nil, errNoPodIP
	}
	return httpget.NewRequest(ctx, g, c, podIP, p.userAgent)
}

// probe sends req: 200–399 succeed (a 3xx left over from a redirect to
// another host succeeds with a warning), anything else fails with
// "HTTP probe failed with statuscode: <code>" (never the body); a
// transport error or timeout fails with the error's text.
func (p *httpProber) probe(req *http.Request, timeout time.Duration) (outcome, string, error) {
	client := &http.Client{Timeout: timeout, Transport: p.transport, CheckRedirect: httpget.SameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return outcomeFailure, "", err
	}
	body := string(b)
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return outcomeWarning, "Probe terminated redirects, Response body: " + body, nil
		}
		return outcomeSuccess, body, nil
	}
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

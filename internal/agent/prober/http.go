package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// request builds the probe's GET request: host defaults to the pod IP,
// the port may name a container port, httpHeaders are added in order,
// User-Agent defaults to kube-probe/<major>.<minor> and Accept to */*
// (an empty Accept header removes it), and a Host header sets the
// request's host.
func (p *httpProber) request(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	if host == "" {
		return nil, errNoPodIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		// A path that does not parse is sent as it is.
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", p.userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// probe sends req: 200–399 succeed (a 3xx left over from a redirect to
// another host succeeds with a warning), anything else fails with
// "HTTP probe failed with statuscode: <code>" (never the body); a
// transport error or timeout fails with the error's text.
func (p *httpProber) probe(req *http.Request, timeout time.Duration) (outcome, string, error) {
	client := &http.Client{Timeout: timeout, Transport: p.transport, CheckRedirect: sameHostRedirects}
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

// sameHostRedirects follows redirects only to the first request's host
// (any port or scheme), at most 10; a redirect elsewhere ends the probe
// with the redirect response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

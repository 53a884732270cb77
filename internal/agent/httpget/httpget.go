// Package httpget builds the HTTP GET of a container's httpGet action the
// way the kubelet does (pkg/probe/http/request.go), for the prober and
// the lifecycle hooks alike: host defaults to the pod IP, the port may
// name one of the container's ports, the path keeps its query, headers
// are added in order, User-Agent and Accept get the kubelet's defaults.
package httpget

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ErrNoHost is returned when the action names no host and the pod has no
// IP yet.
var ErrNoHost = errors.New("no host to reach: the action has no host and the pod has no IP address")

// NewRequest builds the GET for g, sent from a container c of a pod whose
// IP is podIP. userAgent is the default User-Agent (kube-probe/<v> for
// probes, kube-lifecycle/<v> for hooks); an httpHeaders entry replaces
// it. Accept defaults to */* and an empty Accept header removes it; a
// Host header sets the request's Host.
func NewRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP, userAgent string) (*http.Request, error) {
	u, err := URL(g, c, podIP)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
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

// URL is where g points: scheme lower-cased (default http), host or the
// pod IP, the resolved port, and the path parsed as a URL so that its
// query is kept (a path that does not parse is sent as it is).
func URL(g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*url.URL, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	if host == "" {
		return nil, ErrNoHost
	}
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u, nil
}

// ResolvePort is the port an action names: a number, or the name of one
// of the container's ports (falling back to a number written as a
// string), as the kubelet's probe.ResolveContainerPort.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch p.Type {
	case intstr.Int:
		port = p.IntValue()
	case intstr.String:
		found := false
		if c != nil {
			for _, cp := range c.Ports {
				if cp.Name == p.StrVal {
					port, found = int(cp.ContainerPort), true
					break
				}
			}
		}
		if !found {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return -1, err
			}
			port = n
		}
	default:
		return port, fmt.Errorf("intOrString had no kind: %+v", p)
	}
	if port > 0 && port < 65536 {
		return port, nil
	}
	return port, fmt.Errorf("invalid port number: %v", port)
}

// SameHostRedirects is the kubelet's redirect policy for probes and hooks
// (RedirectChecker(false)): follow redirects only to the first request's
// host (any port or scheme), at most 10; a redirect elsewhere ends the
// request with the redirect response.
func SameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	clusterdns "github.com/berth-dev/berth/internal/dns"
)

// podGateway is the pod network's gateway (the first address of the first
// range of the cluster CIDR, which the CNI bridge plugin puts on the
// bridge): the node's address as pods see it. ok is false when that range
// is not IPv4.
func podGateway(clusterCIDR string) (netip.Addr, bool) {
	gw, err := clusterdns.GatewayIP(clusterCIDR)
	return gw, err == nil && gw.Is4()
}

// apiAccess says how pods reach the API server.
type apiAccess struct {
	// advertise is the kubernetes Endpoints' address.
	advertise string
	// gateway, if valid, is a second listener's address on the pod
	// network's gateway, guarded so that only pods and the host reach it.
	gateway netip.Addr
	// certHosts are addresses the serving certificate must cover besides
	// the listen host.
	certHosts []string
}

// planAPIAccess decides where pods reach the API server. With the default
// loopback listener and an in-process agent on berth's own pod network,
// the API server also listens on the gateway and the kubernetes Endpoints
// point there: pods reach it, other machines do not (the proxy's guard
// drops what does not come from the bridge or the host). A server
// listening on every address already accepts on the gateway, so the
// Endpoints point there too. A specific non-loopback address is used as
// it is. Without an own pod network (no agent, or an external CRI
// runtime) nothing changes.
func planAPIAccess(cfg ServerConfig, listenHost string) apiAccess {
	a := apiAccess{advertise: advertiseIP(listenHost)}
	if cfg.DisableAgent || cfg.ContainerRuntimeEndpoint != "" {
		return a
	}
	gw, ok := podGateway(cfg.ClusterCIDR)
	if !ok {
		return a
	}
	ip := net.ParseIP(listenHost)
	switch {
	case ip != nil && ip.IsLoopback():
		a.advertise, a.gateway = gw.String(), gw
		a.certHosts = []string{gw.String()}
	case ip == nil || ip.IsUnspecified():
		a.advertise = gw.String()
		a.certHosts = []string{gw.String()}
	}
	return a
}

// listenFreebind listens on addr even before the address exists on any
// interface (IP_FREEBIND): the bridge holding the gateway appears only
// with the first pod sandbox.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for pods on the pod network's gateway %s: %w", addr, err)
	}
	return ln, nil
}

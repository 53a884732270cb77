package dns

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listen opens the UDP and TCP sockets on addr, on the same port when addr
// asks for port 0. freeBind sets IP_FREEBIND so that an address not yet on
// any interface (the pod bridge's gateway) can be bound: packets reach the
// sockets once the address appears.
func listen(ctx context.Context, addr string, freeBind bool) (net.PacketConn, net.Listener, error) {
	lc := net.ListenConfig{}
	if freeBind {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				level, opt := unix.SOL_IP, unix.IP_FREEBIND
				if network == "udp6" || network == "tcp6" {
					level, opt = unix.SOL_IPV6, unix.IPV6_FREEBIND
				}
				serr = unix.SetsockoptInt(int(fd), level, opt, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster DNS: listening on %s/udp: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("cluster DNS: listening on %s/tcp: %w", net.JoinHostPort(host, port), err)
	}
	return pc, ln, nil
}

package e2e

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// TestEndpoints: the Endpoints and EndpointSlices of Services follow their
// pods' readiness and lifecycle, as kube-controller-manager keeps them.
func TestEndpoints(t *testing.T) {
	// Listening on a routable address gives the kubernetes Service its
	// Endpoints (a loopback listener cannot be an endpoint), and so its
	// EndpointSlice.
	s := startNode(t, "--listen", hostIPv4(t)+":0")
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:v1", testregistry.Image{})
	const ns = "ep"
	s.namespace(t, ns)

	// The process ignores SIGTERM, so a graceful deletion keeps the pod
	// terminating for its whole grace period.
	backend := func(name, readyNow string) string {
		return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s, namespace: %[2]s, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 300
  containers:
  - name: app
    image: %[3]s
    command: ["sh", "-c", "trap '' TERM; %[4]s while true; do sleep 1; done"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
`, name, ns, image, readyNow)
	}
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-all, namespace: %[1]s}
spec:
  selector: {app: web}
  publishNotReadyAddresses: true
  ports: [{name: web, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: %[1]s}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: manual, namespace: %[1]s}
spec:
  ports: [{name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: manual, namespace: %[1]s}
subsets:
- addresses: [{ip: 192.0.2.77}]
  ports: [{name: dns, port: 53, protocol: UDP}]
---`, ns)+backend("a", "touch /tmp/ready;")+"---"+backend("b", ""))
	s.waitPod(t, ns, "a", "{.status.phase}", "Running", 90*time.Second)
	s.waitPod(t, ns, "b", "{.status.phase}", "Running", 90*time.Second)
	ipA, ipB := s.podField(t, ns, "a", "{.status.podIP}"), s.podField(t, ns, "b", "{.status.podIP}")
	if ipA == "" || ipB == "" {
		t.Fatalf("pod IPs: a=%q b=%q", ipA, ipB)
	}

	// Only the ready pod serves; the named targetPort is resolved.
	s.waitEndpoints(t, ns, "web", epWant{ready: []string{ipA}, notReady: []string{ipB}, port: 8080, portName: "web"})
	s.waitSlices(t, ns, "web", map[string]string{ipA: "ready serving", ipB: ""})
	if out := s.mustKubectl(t, "-n", ns, "get", "endpoints", "web"); !slices.Equal(row(out, "web")[:2], []string{"web", ipA + ":8080"}) {
		t.Errorf("kubectl get endpoints web:\n%s", out)
	}
	out := s.mustKubectl(t, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
	if h := header(out); h != "NAME ADDRESSTYPE PORTS ENDPOINTS AGE" {
		t.Errorf("endpointslices header %q", h)
	}
	if r := rows(out); len(r) != 1 || !strings.HasPrefix(r[0][0], "web-") || r[0][1] != "IPv4" || r[0][2] != "8080" {
		t.Errorf("kubectl get endpointslices:\n%s", out)
	}

	// publishNotReadyAddresses: both are ready addresses.
	s.waitEndpoints(t, ns, "web-all", epWant{ready: []string{ipA, ipB}, port: 8080, portName: "web"})
	s.waitSlices(t, ns, "web-all", map[string]string{ipA: "ready serving", ipB: "ready"})

	// A selector matching nothing: Endpoints without subsets, an empty slice.
	s.waitEndpoints(t, ns, "nobody", epWant{})
	if r := row(s.mustKubectl(t, "-n", ns, "get", "endpoints", "nobody"), "nobody"); len(r) < 2 || r[1] != "<none>" {
		t.Errorf("kubectl get endpoints nobody: %q", r)
	}
	s.waitSlices(t, ns, "nobody", map[string]string{})

	// Selectorless Endpoints are mirrored.
	eventually(t, 30*time.Second, func() error {
		var list discoveryv1.EndpointSliceList
		s.getJSON(t, &list, "-n", ns, "endpointslices", "-l", "kubernetes.io/service-name=manual")
		if len(list.Items) != 1 || list.Items[0].Labels[discoveryv1.LabelManagedBy] != "endpointslicemirroring-controller.k8s.io" ||
			len(list.Items[0].Endpoints) != 1 || list.Items[0].Endpoints[0].Addresses[0] != "192.0.2.77" ||
			len(list.Items[0].Ports) != 1 || *list.Items[0].Ports[0].Port != 53 || *list.Items[0].Ports[0].Protocol != corev1.ProtocolUDP {
			return fmt.Errorf("mirrored slices of manual: %+v", list.Items)
		}
		return nil
	})

	// The kubernetes Service's slice carries the API server's address.
	var kep corev1.Endpoints
	s.getJSON(t, &kep, "-n", "default", "endpoints", "kubernetes")
	if len(kep.Subsets) != 1 || len(kep.Subsets[0].Addresses) != 1 {
		t.Fatalf("kubernetes Endpoints: %+v", kep.Subsets)
	}
	eventually(t, 30*time.Second, func() error {
		var ks discoveryv1.EndpointSlice
		s.getJSON(t, &ks, "-n", "default", "endpointslice", "kubernetes")
		if ks.Labels[discoveryv1.LabelServiceName] != "kubernetes" || len(ks.Endpoints) != 1 ||
			ks.Endpoints[0].Addresses[0] != kep.Subsets[0].Addresses[0].IP || len(ks.Ports) != 1 || *ks.Ports[0].Port != kep.Subsets[0].Ports[0].Port {
			return fmt.Errorf("kubernetes EndpointSlice: %+v", ks)
		}
		return nil
	})

	// Readiness flips: b joins.
	s.mustKubectl(t, "-n", ns, "exec", "b", "--", "touch", "/tmp/ready")
	s.waitEndpoints(t, ns, "web", epWant{ready: []string{ipA, ipB}, port: 8080, portName: "web"})
	s.waitSlices(t, ns, "web", map[string]string{ipA: "ready serving", ipB: "ready serving"})

	// A terminating pod leaves the Endpoints at once, stays in the slice as
	// terminating and not ready, and stays published where not-ready
	// addresses are.
	s.mustKubectl(t, "-n", ns, "delete", "pod", "a", "--grace-period=300", "--wait=false")
	s.waitEndpoints(t, ns, "web", epWant{ready: []string{ipB}, port: 8080, portName: "web"})
	s.waitSlicesTerminating(t, ns, "web", ipA)
	s.waitEndpoints(t, ns, "web-all", epWant{ready: []string{ipA, ipB}, port: 8080, portName: "web"})
	if ts := s.podField(t, ns, "a", "{.metadata.deletionTimestamp}"); ts == "" {
		t.Errorf("pod a is no longer terminating: the check above proves nothing")
	}

	// Scaling: a new ready pod joins (seen by a watch too); a deleted pod goes.
	watch := s.kubectlBackground(t, 120*time.Second, "-n", ns, "get", "endpointslice", "-l", "kubernetes.io/service-name=web", "-w")
	s.apply(t, backend("c", "touch /tmp/ready;"))
	s.waitPod(t, ns, "c", "{.status.phase}", "Running", 90*time.Second)
	ipC := s.podField(t, ns, "c", "{.status.podIP}")
	s.waitEndpoints(t, ns, "web", epWant{ready: []string{ipB, ipC}, port: 8080, portName: "web"})
	s.waitSlices(t, ns, "web", map[string]string{ipA: "serving terminating", ipB: "ready serving", ipC: "ready serving"})
	eventually(t, 30*time.Second, func() error {
		if !strings.Contains(watch.stdout.String(), ipC) {
			return fmt.Errorf("kubectl get endpointslice -w did not show %s: %q %q", ipC, watch.stdout.String(), watch.stderr.String())
		}
		return nil
	})
	s.mustKubectl(t, "-n", ns, "delete", "pod", "b", "--grace-period=0", "--force")
	s.waitEndpoints(t, ns, "web", epWant{ready: []string{ipC}, port: 8080, portName: "web"})
	s.waitSlices(t, ns, "web", map[string]string{ipA: "serving terminating", ipC: "ready serving"})

	// The API validates slices as Kubernetes does.
	_, stderr, err := s.kubectlIn(`
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad, namespace: ep}
addressType: IP
endpoints: [{addresses: []}]
`, "create", "-f", "-")
	if err == nil || !strings.Contains(stderr, `The EndpointSlice "bad" is invalid`) ||
		!strings.Contains(stderr, `addressType: Unsupported value: "IP"`) || !strings.Contains(stderr, "endpoints[0].addresses: Required value") {
		t.Errorf("invalid slice: err %v, stderr %s", err, stderr)
	}

	// Do not make the cleanup wait out a's grace period.
	s.mustKubectl(t, "-n", ns, "delete", "pod", "a", "--grace-period=0", "--force")
}

type epWant struct {
	ready, notReady []string
	port            int32
	portName        string
}

// waitEndpoints polls the Endpoints of a Service until they hold exactly
// the wanted addresses (in one subset) and port; a zero epWant means no
// subsets at all.
func (s *server) waitEndpoints(t *testing.T, ns, name string, want epWant) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		var ep corev1.Endpoints
		s.getJSON(t, &ep, "-n", ns, "endpoints", name)
		if len(want.ready)+len(want.notReady) == 0 {
			if len(ep.Subsets) != 0 {
				return fmt.Errorf("endpoints %s: %+v, want no subsets", name, ep.Subsets)
			}
			return nil
		}
		if len(ep.Subsets) != 1 {
			return fmt.Errorf("endpoints %s: %+v, want one subset", name, ep.Subsets)
		}
		ss := ep.Subsets[0]
		if got := ips(ss.Addresses); !slices.Equal(got, sorted(want.ready)) {
			return fmt.Errorf("endpoints %s: addresses %v, want %v", name, got, sorted(want.ready))
		}
		if got := ips(ss.NotReadyAddresses); !slices.Equal(got, sorted(want.notReady)) {
			return fmt.Errorf("endpoints %s: notReadyAddresses %v, want %v", name, got, sorted(want.notReady))
		}
		if len(ss.Ports) != 1 || ss.Ports[0].Port != want.port || ss.Ports[0].Name != want.portName || ss.Ports[0].Protocol != corev1.ProtocolTCP {
			return fmt.Errorf("endpoints %s: ports %+v, want %s %d/TCP", name, ss.Ports, want.portName, want.port)
		}
		for _, a := range append(ss.Addresses, ss.NotReadyAddresses...) {
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil {
				return fmt.Errorf("endpoints %s: address %+v lacks its pod or node", name, a)
			}
		}
		return nil
	})
}

// waitSlices polls the EndpointSlices of a Service until their endpoints
// are exactly want: address → the conditions that are true, of "ready
// serving terminating" in that order ("" for none).
func (s *server) waitSlices(t *testing.T, ns, svc string, want map[string]string) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		got, err := s.sliceConditions(t, ns, svc)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("slices of %s: %v, want %v", svc, got, want)
		}
		return nil
	})
}

// waitSlicesTerminating waits until ip is in the Service's slices as
// terminating and not ready (serving follows the pod's readiness).
func (s *server) waitSlicesTerminating(t *testing.T, ns, svc, ip string) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		got, err := s.sliceConditions(t, ns, svc)
		if err != nil {
			return err
		}
		if c, ok := got[ip]; !ok || !strings.Contains(c, "terminating") || strings.Contains(c, "ready") {
			return fmt.Errorf("slices of %s: %v, want %s terminating and not ready", svc, got, ip)
		}
		return nil
	})
}

func (s *server) sliceConditions(t *testing.T, ns, svc string) (map[string]string, error) {
	var list discoveryv1.EndpointSliceList
	s.getJSON(t, &list, "-n", ns, "endpointslices", "-l", "kubernetes.io/service-name="+svc)
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no EndpointSlice for service %s", svc)
	}
	got := map[string]string{}
	for _, sl := range list.Items {
		if sl.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || sl.AddressType != discoveryv1.AddressTypeIPv4 {
			return nil, fmt.Errorf("slice %s: labels %v addressType %s", sl.Name, sl.Labels, sl.AddressType)
		}
		if len(sl.Endpoints) > 0 && (len(sl.Ports) != 1 || sl.Ports[0].Port == nil || *sl.Ports[0].Port != 8080) {
			return nil, fmt.Errorf("slice %s: ports %+v, want 8080", sl.Name, sl.Ports)
		}
		for _, e := range sl.Endpoints {
			var c []string
			for _, x := range []struct {
				name string
				v    *bool
			}{{"ready", e.Conditions.Ready}, {"serving", e.Conditions.Serving}, {"terminating", e.Conditions.Terminating}} {
				if x.v != nil && *x.v {
					c = append(c, x.name)
				}
			}
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.NodeName == nil {
				return nil, fmt.Errorf("slice %s: endpoint %+v lacks its pod or node", sl.Name, e)
			}
			got[e.Addresses[0]] = strings.Join(c, " ")
		}
	}
	return got, nil
}

func ips(addrs []corev1.EndpointAddress) []string {
	out := []string{}
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// hostIPv4 is an address of this machine that is not loopback, for a
// server whose Endpoints must be valid.
func hostIPv4(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "cni") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address for the API server to listen on")
	return ""
}

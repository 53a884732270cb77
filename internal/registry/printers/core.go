package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Count cells are int64, not int or string: they must encode as JSON numbers exactly as
// Kubernetes' do, and int64 survives a JSON round trip through kubectl unchanged.

func namespaceRow(ns *corev1.Namespace, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}}
}

func secretRow(s *corev1.Secret, now time.Time) metav1.TableRow {
	// DATA counts data keys only: stringData is write-only and merged into data on write.
	return metav1.TableRow{Cells: []interface{}{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}}
}

func serviceAccountRow(sa *corev1.ServiceAccount, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}}
}

func configMapRow(cm *corev1.ConfigMap, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}}
}

func leaseRow(l *coordinationv1.Lease, now time.Time) metav1.TableRow {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return metav1.TableRow{Cells: []interface{}{l.Name, holder, age(l.CreationTimestamp, now)}}
}

func serviceRow(svc *corev1.Service, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{
		svc.Name,
		string(svc.Spec.Type),
		orNone(clusterIP(svc)),
		serviceExternalIP(svc),
		orNone(servicePorts(svc.Spec.Ports)),
		age(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}}
}

// clusterIP follows the v1→internal conversion: spec.clusterIP wins, else spec.clusterIPs[0].
// A headless service shows "None", as in Kubernetes.
func clusterIP(svc *corev1.Service) string {
	if svc.Spec.ClusterIP != "" {
		return svc.Spec.ClusterIP
	}
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs[0]
	}
	return ""
}

// serviceExternalIP is the EXTERNAL-IP cell. The table is always built wide (as the
// Kubernetes API server builds it), so load-balancer addresses are never clipped.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerAddresses(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(lb, svc.Spec.ExternalIPs...), ",")
		}
		if len(lb) > 0 {
			return strings.Join(lb, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerAddresses returns the ingress IPs (or hostnames when no IP), sorted and unique.
func loadBalancerAddresses(s corev1.LoadBalancerStatus) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range s.Ingress {
		addr := in.IP
		if addr == "" {
			addr = in.Hostname
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// servicePorts renders "80/TCP" or, with a node port, "80:30080/TCP", comma-separated.
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

func endpointsRow(ep *corev1.Endpoints, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}}
}

// maxEndpointsShown keeps the ENDPOINTS cell readable for big services; the rest is
// summarised as " + N more...".
const maxEndpointsShown = 3

// formatEndpoints lists ip:port (or bare ip for a subset without ports, e.g. a headless
// service) for every address×port pair, showing the first three. Not-ready addresses are
// not shown, as in Kubernetes.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var shown []string
	total := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			total += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(shown) < maxEndpointsShown {
					shown = append(shown, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			total += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(shown) < maxEndpointsShown {
					shown = append(shown, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	out := strings.Join(shown, ",")
	if total > maxEndpointsShown {
		return fmt.Sprintf("%s + %d more...", out, total-maxEndpointsShown)
	}
	return out
}

const (
	nodeRolePrefix = "node-role.kubernetes.io/"
	nodeRoleLabel  = "kubernetes.io/role" // the older, value-carrying form of a role label
)

func nodeRow(node *corev1.Node, now time.Time) metav1.TableRow {
	info := node.Status.NodeInfo
	return metav1.TableRow{Cells: []interface{}{
		node.Name,
		nodeStatus(node),
		orNone(strings.Join(nodeRoles(node), ",")),
		age(node.CreationTimestamp, now),
		info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP),
		nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
	}}
}

// nodeStatus is built from the Ready condition only (the last one wins if repeated), plus
// SchedulingDisabled for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	var ready *corev1.NodeCondition
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			ready = &node.Status.Conditions[i]
		}
	}
	status := "Unknown"
	if ready != nil {
		if ready.Status == corev1.ConditionTrue {
			status = string(corev1.NodeReady)
		} else {
			status = "Not" + string(corev1.NodeReady)
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles returns the sorted, de-duplicated roles named by node-role.kubernetes.io/<role>
// labels (any value) and by a non-empty kubernetes.io/role label.
func nodeRoles(node *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix):
			if role := strings.TrimPrefix(k, nodeRolePrefix); role != "" {
				set[role] = true
			}
		case k == nodeRoleLabel && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress is the first address of the given type, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

package printers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func om(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(3 * time.Hour), ResourceVersion: "42"}
}

// columnShape is "Name|type|format|priority" for every column, the part kubectl relies on.
func columnShape(cols []metav1.TableColumnDefinition) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.Join([]string{c.Name, c.Type, c.Format, string(rune('0' + c.Priority))}, "|")
	}
	return out
}

func TestColumns(t *testing.T) {
	cases := []struct {
		obj  runtime.Object
		want []string
	}{
		{&corev1.Pod{}, []string{"Name|string|name|0", "Ready|string||0", "Status|string||0", "Restarts|string||0", "Age|string||0",
			"IP|string||1", "Node|string||1", "Nominated Node|string||1", "Readiness Gates|string||1"}},
		{&corev1.Namespace{}, []string{"Name|string|name|0", "Status|string||0", "Age|string||0"}},
		{&corev1.Secret{}, []string{"Name|string|name|0", "Type|string||0", "Data|string||0", "Age|string||0"}},
		{&corev1.ServiceAccount{}, []string{"Name|string|name|0", "Secrets|string||0", "Age|string||0"}},
		{&corev1.ConfigMap{}, []string{"Name|string|name|0", "Data|string||0", "Age|string||0"}},
		{&corev1.Service{}, []string{"Name|string|name|0", "Type|string||0", "Cluster-IP|string||0", "External-IP|string||0",
			"Port(s)|string||0", "Age|string||0", "Selector|string||1"}},
		{&corev1.Endpoints{}, []string{"Name|string|name|0", "Endpoints|string||0", "Age|string||0"}},
		{&corev1.Node{}, []string{"Name|string|name|0", "Status|string||0", "Roles|string||0", "Age|string||0", "Version|string||0",
			"Internal-IP|string||1", "External-IP|string||1", "OS-Image|string||1", "Kernel-Version|string||1", "Container-Runtime|string||1"}},
		{&corev1.Event{}, []string{"Last Seen|string||0", "Type|string||0", "Reason|string||0", "Object|string||0", "Subobject|string||1",
			"Source|string||1", "Message|string||0", "First Seen|string||1", "Count|string||1", "Name|string|name|1"}},
		{&coordinationv1.Lease{}, []string{"Name|string|name|0", "Holder|string||0", "Age|string||0"}},
		{&corev1.PersistentVolume{}, []string{"Name|string|name|0", "Created At|date||0"}},
	}
	for _, tc := range cases {
		table, err := Convert(tc.obj, now)
		if err != nil {
			t.Fatalf("%T: %v", tc.obj, err)
		}
		if got := columnShape(table.ColumnDefinitions); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T columns:\n got %q\nwant %q", tc.obj, got, tc.want)
		}
		for _, c := range table.ColumnDefinitions {
			if c.Description == "" {
				t.Errorf("%T column %q has no description", tc.obj, c.Name)
			}
		}
		if n := len(table.Rows[0].Cells); n != len(table.ColumnDefinitions) {
			t.Errorf("%T: %d cells for %d columns", tc.obj, n, len(table.ColumnDefinitions))
		}
	}
	// Descriptions that are literal strings in Kubernetes rather than API docs.
	pod, _ := Convert(&corev1.Pod{}, now)
	if d := pod.ColumnDefinitions[3].Description; d != "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted." {
		t.Errorf("Restarts description = %q", d)
	}
	if d := pod.ColumnDefinitions[0].Description; d != (metav1.ObjectMeta{}).SwaggerDoc()["name"] {
		t.Errorf("Name description = %q", d)
	}
}

func TestSimpleKinds(t *testing.T) {
	cases := []struct {
		name string
		obj  runtime.Object
		want []interface{}
	}{
		{"namespace", &corev1.Namespace{ObjectMeta: om("team-a"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]interface{}{"team-a", "Terminating", "3h"}},
		{"secret", &corev1.Secret{ObjectMeta: om("regcred"), Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{".dockerconfigjson": []byte("{}")}}, []interface{}{"regcred", "kubernetes.io/dockerconfigjson", int64(1), "3h"}},
		{"service account", &corev1.ServiceAccount{ObjectMeta: om("default")}, []interface{}{"default", int64(0), "3h"}},
		{"service account with secrets", &corev1.ServiceAccount{ObjectMeta: om("bot"),
			Secrets: []corev1.ObjectReference{{Name: "a"}, {Name: "b"}}}, []interface{}{"bot", int64(2), "3h"}},
		{"config map counts binary data", &corev1.ConfigMap{ObjectMeta: om("cfg"), Data: map[string]string{"a": "1", "b": "2"},
			BinaryData: map[string][]byte{"c": {0}}}, []interface{}{"cfg", int64(3), "3h"}},
		{"lease", &coordinationv1.Lease{ObjectMeta: om("node-1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}},
			[]interface{}{"node-1", "node-1", "3h"}},
		{"lease without holder", &coordinationv1.Lease{ObjectMeta: om("free")}, []interface{}{"free", "", "3h"}},
		{"zero creation timestamp", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, []interface{}{"x", int64(0), "<unknown>"}},
	}
	for _, tc := range cases {
		table, err := Convert(tc.obj, now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: cells = %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func svc(typ corev1.ServiceType, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: om("web"), Spec: corev1.ServiceSpec{Type: typ, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestService(t *testing.T) {
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	cases := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{"cluster ip", svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{tcp(80, 0)}
			s.Spec.Selector = map[string]string{"app": "web", "tier": "fe"}
		}), []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "3h", "app=web,tier=fe"}},
		{"no ports, no selector", svc(corev1.ServiceTypeClusterIP, nil),
			[]interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "<none>", "3h", "<none>"}},
		{"headless", svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"}
			s.Spec.Ports = []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}}
		}), []interface{}{"web", "ClusterIP", "None", "<none>", "53/UDP,53/TCP", "3h", "<none>"}},
		{"external ips", svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"1.2.3.4", "5.6.7.8"}
			s.Spec.Ports = []corev1.ServicePort{tcp(443, 0)}
		}), []interface{}{"web", "ClusterIP", "10.96.0.10", "1.2.3.4,5.6.7.8", "443/TCP", "3h", "<none>"}},
		{"node port", svc(corev1.ServiceTypeNodePort, func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{tcp(80, 30080), {Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}
		}), []interface{}{"web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53:30053/UDP", "3h", "<none>"}},
		{"load balancer pending", svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{tcp(80, 31000)}
		}), []interface{}{"web", "LoadBalancer", "10.96.0.10", "<pending>", "80:31000/TCP", "3h", "<none>"}},
		{"load balancer ingress sorted, deduplicated, unclipped", svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "a-very-long-lb-name.example.com"}, {IP: "203.0.113.9"}}
		}), []interface{}{"web", "LoadBalancer", "10.96.0.10", "203.0.113.9,a-very-long-lb-name.example.com", "<none>", "3h", "<none>"}},
		{"load balancer plus external ips", svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}}
			s.Spec.ExternalIPs = []string{"1.2.3.4"}
		}), []interface{}{"web", "LoadBalancer", "10.96.0.10", "203.0.113.9,1.2.3.4", "<none>", "3h", "<none>"}},
		{"external name", svc(corev1.ServiceTypeExternalName, func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
			s.Spec.ExternalName = "db.example.com"
		}), []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "3h", "<none>"}},
		{"unknown type", svc("", nil), []interface{}{"web", "", "10.96.0.10", "<unknown>", "<none>", "3h", "<none>"}},
	}
	for _, tc := range cases {
		table, err := Convert(tc.svc, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func addrs(ips ...string) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, len(ips))
	for i, ip := range ips {
		out[i] = corev1.EndpointAddress{IP: ip}
	}
	return out
}

func TestEndpoints(t *testing.T) {
	port := func(p int32) []corev1.EndpointPort {
		return []corev1.EndpointPort{{Port: p, Protocol: corev1.ProtocolTCP}}
	}
	cases := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"no subsets", nil, "<none>"},
		{"one address", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1"), Ports: port(8080)}}, "10.0.0.1:8080"},
		{"exactly three", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), Ports: port(80)}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80"},
		{"five addresses", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), Ports: port(80)}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."},
		{"address x port pairs across subsets", []corev1.EndpointSubset{
			{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
			{Addresses: addrs("10.0.1.1"), Ports: port(80)},
		}, "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more..."},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2")}}, "10.0.0.1,10.0.0.2"},
		{"ipv6 is bracketed", []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: port(80)}}, "[fd00::1]:80"},
		{"not-ready addresses are not shown", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.0.0.9"), Ports: port(80)}}, ""},
	}
	for _, tc := range cases {
		table, err := Convert(&corev1.Endpoints{ObjectMeta: om("web"), Subsets: tc.subsets}, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []interface{}{"web", tc.want, "3h"}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, want)
		}
	}
}

func TestNode(t *testing.T) {
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: s}}
	}
	full := corev1.NodeStatus{
		Conditions: ready(corev1.ConditionTrue),
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.11"}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)",
			KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "containerd://1.7.24"},
	}
	cases := []struct {
		name   string
		labels map[string]string
		unsch  bool
		status corev1.NodeStatus
		want   []interface{}
	}{
		{"ready control plane", map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true", "kubernetes.io/role": "master"},
			false, full, []interface{}{"n1", "Ready", "control-plane,etcd,master", "3h", "v1.37.2", "192.168.1.10", "203.0.113.1",
				"Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.7.24"}},
		{"not ready, cordoned, no roles", map[string]string{"node-role.kubernetes.io/": "", "kubernetes.io/role": ""}, true,
			corev1.NodeStatus{Conditions: ready(corev1.ConditionFalse)},
			[]interface{}{"n1", "NotReady,SchedulingDisabled", "<none>", "3h", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"ready unknown counts as not ready", nil, false, corev1.NodeStatus{Conditions: ready(corev1.ConditionUnknown)},
			[]interface{}{"n1", "NotReady", "<none>", "3h", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"no ready condition", nil, true, corev1.NodeStatus{},
			[]interface{}{"n1", "Unknown,SchedulingDisabled", "<none>", "3h", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	for _, tc := range cases {
		n := &corev1.Node{ObjectMeta: om("n1"), Spec: corev1.NodeSpec{Unschedulable: tc.unsch}, Status: tc.status}
		n.Namespace = ""
		n.Labels = tc.labels
		table, err := Convert(n, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func TestCoreEvent(t *testing.T) {
	base := func() *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     om("web.17f2a"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
			Reason:         "Pulled", Message: "  Successfully pulled image \"nginx\"\n", Type: corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 4,
		}
	}
	cases := []struct {
		name   string
		mutate func(*corev1.Event)
		want   []interface{}
	}{
		{"classic event", nil, []interface{}{"2m", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, node-1",
			"Successfully pulled image \"nginx\"", "10m", int64(4), "web.17f2a"}},
		{"no last timestamp uses first", func(e *corev1.Event) { e.LastTimestamp = metav1.Time{} },
			[]interface{}{"10m", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, node-1",
				"Successfully pulled image \"nginx\"", "10m", int64(4), "web.17f2a"}},
		{"new-style event: eventTime, series, reporting controller", func(e *corev1.Event) {
			e.FirstTimestamp, e.LastTimestamp, e.Count = metav1.Time{}, metav1.Time{}, 0
			e.EventTime = metav1.NewMicroTime(now.Add(-time.Hour))
			e.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-30 * time.Second))}
			e.Source = corev1.EventSource{}
			e.ReportingController, e.ReportingInstance = "berth/agent", "node-1"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
			e.Type = corev1.EventTypeWarning
		}, []interface{}{"30s", "Warning", "Pulled", "node", "", "berth/agent, node-1",
			"Successfully pulled image \"nginx\"", "60m", int64(7), "web.17f2a"}},
		{"singleton without count, host-less source", func(e *corev1.Event) {
			e.Count = 0
			e.Source.Host = ""
		}, []interface{}{"2m", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet",
			"Successfully pulled image \"nginx\"", "10m", int64(1), "web.17f2a"}},
		{"no times at all", func(e *corev1.Event) { e.FirstTimestamp, e.LastTimestamp = metav1.Time{}, metav1.Time{} },
			[]interface{}{"<unknown>", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, node-1",
				"Successfully pulled image \"nginx\"", "<unknown>", int64(4), "web.17f2a"}},
	}
	for _, tc := range cases {
		e := base()
		if tc.mutate != nil {
			tc.mutate(e)
		}
		table, err := Convert(e, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func TestEventsV1Event(t *testing.T) {
	ev := &eventsv1.Event{
		ObjectMeta:          om("web.1"),
		EventTime:           metav1.NewMicroTime(now.Add(-5 * time.Minute)),
		ReportingController: "berth.dev/agent", ReportingInstance: "agent-node-1",
		Action: "Pulling", Reason: "Pulling", Note: "Pulling image \"busybox\"", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.initContainers{init}"},
	}
	table, err := Convert(&eventsv1.EventList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []eventsv1.Event{*ev}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []interface{}{"5m", "Normal", "Pulling", "pod/web", "spec.initContainers{init}", "berth.dev/agent, agent-node-1",
		"Pulling image \"busybox\"", "5m", int64(1), "web.1"}
	if got := table.Rows[0].Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if got := columnShape(table.ColumnDefinitions); got[0] != "Last Seen|string||0" || len(got) != 10 {
		t.Errorf("events.k8s.io columns = %q", got)
	}

	ev.Series = &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Add(-10 * time.Second))}
	ev.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
	table, _ = Convert(ev, now)
	if got := table.Rows[0].Cells; got[0] != "10s" || got[8] != int64(3) || got[5] != "kubelet, agent-node-1" {
		t.Errorf("series event cells = %#v", got)
	}
}

func TestListsAndTableMeta(t *testing.T) {
	list := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "100", Continue: "tok", RemainingItemCount: ptr(int64(5))},
		Items: []corev1.Pod{
			*newPod(corev1.PodRunning, containers("a"), cstatus("a", running(), true)),
			*newPod(corev1.PodSucceeded, containers("a"), cstatus("a", terminated("Completed", 0, 0), false)),
		},
	}
	list.Items[1].Name = "q"
	table, err := Convert(list, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "p" || table.Rows[1].Cells[0] != "q" {
		t.Fatalf("rows = %#v", table.Rows)
	}
	if table.ResourceVersion != "100" || table.Continue != "tok" || table.RemainingItemCount == nil || *table.RemainingItemCount != 5 {
		t.Errorf("list meta = %#v", table.ListMeta)
	}
	if table.Rows[1].Conditions == nil || table.Rows[0].Object.Object != nil || table.Rows[0].Object.Raw != nil {
		t.Errorf("unexpected row conditions/object: %#v", table.Rows)
	}

	single, _ := Convert(&corev1.Secret{ObjectMeta: om("s")}, now)
	if single.ResourceVersion != "42" {
		t.Errorf("single object resourceVersion = %q, want 42", single.ResourceVersion)
	}

	// Empty lists of every kind give an empty, non-nil row slice: JSON "rows":[] as in Kubernetes.
	empties := []runtime.Object{&corev1.PodList{}, &corev1.NamespaceList{}, &corev1.SecretList{}, &corev1.ServiceAccountList{},
		&corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.EndpointsList{}, &corev1.NodeList{}, &corev1.EventList{},
		&eventsv1.EventList{}, &coordinationv1.LeaseList{}, &corev1.PersistentVolumeList{}}
	for _, obj := range empties {
		table, err := Convert(obj, now)
		if err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
		b, _ := json.Marshal(table)
		if !strings.Contains(string(b), `"rows":[]`) {
			t.Errorf("%T: %s", obj, b)
		}
	}

	// A typed nil pointer is an error, not a panic.
	if _, err := Convert((*corev1.Pod)(nil), now); !errors.Is(err, ErrNotTable) {
		t.Errorf("typed nil: err = %v, want ErrNotTable", err)
	}
}

func TestColumnsAreNotShared(t *testing.T) {
	a, _ := Convert(&corev1.Pod{}, now)
	a.ColumnDefinitions[0].Name = "changed"
	b, _ := Convert(&corev1.Pod{}, now)
	if b.ColumnDefinitions[0].Name != "Name" {
		t.Error("column definitions leak between tables")
	}
}

func TestDefaultTable(t *testing.T) {
	created := time.Date(2025, 5, 30, 8, 15, 0, 0, time.FixedZone("CEST", 2*3600))
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1", CreationTimestamp: metav1.NewTime(created), ResourceVersion: "7"}}
	table, err := Convert(pv, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []interface{}{"pv1", "2025-05-30T06:15:00Z"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells = %#v, want %#v", table.Rows[0].Cells, want)
	}
	if table.ResourceVersion != "7" {
		t.Errorf("resourceVersion = %q", table.ResourceVersion)
	}

	u := &unstructured.UnstructuredList{Object: map[string]interface{}{"metadata": map[string]interface{}{"resourceVersion": "11"}}}
	u.Items = []unstructured.Unstructured{{Object: map[string]interface{}{"metadata": map[string]interface{}{"name": "w"}}}}
	table, err = Convert(u, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[0] != "w" || table.Rows[0].Cells[1] != "0001-01-01T00:00:00Z" || table.ResourceVersion != "11" {
		t.Errorf("unstructured table = %#v", table)
	}

	if _, err := Convert(&metav1.Status{}, now); !errors.Is(err, ErrNotTable) {
		t.Errorf("Status without object meta: err = %v, want ErrNotTable", err)
	}
	if _, err := Convert(nil, now); !errors.Is(err, ErrNotTable) {
		t.Errorf("nil: err = %v, want ErrNotTable", err)
	}
}

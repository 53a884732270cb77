package printers

import (
	"reflect"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestEndpointSlice(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(p int32) *int32 { return &p }
	eps := func(addrs ...[]string) []discoveryv1.Endpoint {
		var out []discoveryv1.Endpoint
		for _, a := range addrs {
			out = append(out, discoveryv1.Endpoint{Addresses: a})
		}
		return out
	}
	notReady := false
	cases := []struct {
		name      string
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
		wantPorts string
		wantEps   string
	}{
		{"empty placeholder", nil, nil, "<unset>", "<unset>"},
		{"one port one endpoint", []discoveryv1.EndpointPort{{Name: str("http"), Port: num(8080)}},
			eps([]string{"10.0.0.1"}), "8080", "10.0.0.1"},
		{"port without number shows its name", []discoveryv1.EndpointPort{{Name: str("http")}}, nil, "http", "<unset>"},
		{"port without number or name", []discoveryv1.EndpointPort{{}}, nil, "*", "<unset>"},
		{"four ports", []discoveryv1.EndpointPort{{Port: num(1)}, {Port: num(2)}, {Port: num(3)}, {Port: num(4)}}, nil,
			"1,2,3 + 1 more...", "<unset>"},
		{"five addresses over endpoints", nil,
			eps([]string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.0.3"}, []string{"10.0.0.4", "10.0.0.5"}),
			"<unset>", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."},
		// Unlike the Endpoints table, conditions do not filter.
		{"not-ready endpoints are shown",
			[]discoveryv1.EndpointPort{{Port: num(80)}},
			[]discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}}},
			"80", "10.0.0.9"},
	}
	for _, tc := range cases {
		s := &discoveryv1.EndpointSlice{ObjectMeta: om("web-abcde"), AddressType: discoveryv1.AddressTypeIPv4, Ports: tc.ports, Endpoints: tc.endpoints}
		table, err := Convert(s, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []interface{}{"web-abcde", "IPv4", tc.wantPorts, tc.wantEps, "3h"}
		if got := table.Rows[0].Cells; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, want)
		}
	}
	list := &discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}}
	list.ResourceVersion = "77"
	table, err := Convert(list, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := columnShape(table.ColumnDefinitions); !reflect.DeepEqual(got, []string{
		"Name|string|name|0", "AddressType|string||0", "Ports|string||0", "Endpoints|string||0", "Age|string||0"}) {
		t.Errorf("columns: %q", got)
	}
	if len(table.Rows) != 2 || table.ResourceVersion != "77" {
		t.Errorf("list table: %d rows, resourceVersion %q", len(table.Rows), table.ResourceVersion)
	}
}

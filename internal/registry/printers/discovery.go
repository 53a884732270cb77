package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func endpointSliceColumns() []metav1.TableColumnDefinition {
	doc := discoveryv1.EndpointSlice{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("AddressType", "string", "", doc["addressType"], 0),
		col("Ports", "string", "", doc["ports"], 0),
		col("Endpoints", "string", "", doc["endpoints"], 0),
		ageCol(),
	}
}

func endpointSliceRow(s *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
	return metav1.TableRow{Cells: []interface{}{
		s.Name, string(s.AddressType), formatSlicePorts(s.Ports), formatSliceEndpoints(s.Endpoints), age(s.CreationTimestamp, now),
	}}
}

// formatSlicePorts shows up to three port numbers; a port without a number
// shows its name, one with neither "*" (every port, as for a headless
// Service without ports).
func formatSlicePorts(ports []discoveryv1.EndpointPort) string {
	list := make([]string, 0, len(ports))
	for _, p := range ports {
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return listWithMore(list)
}

// formatSliceEndpoints shows up to three addresses, ready or not: unlike
// the Endpoints table, Kubernetes' slice table does not filter on
// conditions.
func formatSliceEndpoints(endpoints []discoveryv1.Endpoint) string {
	var list []string
	for _, e := range endpoints {
		list = append(list, e.Addresses...)
	}
	return listWithMore(list)
}

// listWithMore joins the first three items and counts the rest; an empty
// list is "<unset>", as Kubernetes prints it.
func listWithMore(list []string) string {
	const max = 3
	if len(list) == 0 {
		return "<unset>"
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ","), len(list)-max)
	}
	return strings.Join(list, ",")
}

// Package printers builds the server-side metav1.Table that `kubectl get` asks for
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io).
//
// kubectl prints whatever columns and cells the server sends, so every column name, type,
// format, priority and cell value here follows the Kubernetes API server
// (pkg/printers/internalversion and the TableConvertor of each registry). Like the Kubernetes
// API server, Convert always produces the wide variant (all columns, priority 1 included):
// kubectl itself hides priority-1 columns unless `-o wide` is given.
//
// Kinds without a dedicated printer get the table of Kubernetes' default convertor
// (k8s.io/apiserver rest.NewDefaultTableConvertor): a "Name" column (format "name") and a
// "Created At" column (type "date", the creation timestamp in RFC 3339, UTC). That is what a
// real API server shows for such resources, so kubectl output stays the same.
package printers

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// ErrNotTable is wrapped by the error Convert returns for an object that has no object
// metadata, which not even the default table can show. Kubernetes answers such a request
// with 406 Not Acceptable ("the resource X does not support being converted to a Table").
var ErrNotTable = errors.New("object does not support being converted to a Table")

// Convert turns one typed object (e.g. *corev1.Pod) or a typed list (e.g. *corev1.PodList) into a Table
// with the column definitions Kubernetes uses for that kind (wide-only columns have Priority 1) and one row
// per object. Row.Object is left empty (the caller fills it per includeObject). now is the reference time for AGE.
//
// The table carries the list's resourceVersion, continue token and remaining item count (or the
// single object's resourceVersion), as Kubernetes' table generator does. TypeMeta is left empty:
// the caller knows which meta.k8s.io version was negotiated. Rows of an empty list are an empty,
// non-nil slice so that they encode as `"rows":[]`, like Kubernetes.
func Convert(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	// A typed nil pointer would panic deep inside the accessors; report it instead.
	if v := reflect.ValueOf(obj); obj == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil, fmt.Errorf("printers: nil %T: %w", obj, ErrNotTable)
	}
	cols, rows, ok := convertKnown(obj, now)
	if !ok {
		cols, rows, ok = convertWorkload(obj, now)
	}
	if !ok {
		return defaultTable(obj)
	}
	table := &metav1.Table{ColumnDefinitions: cols, Rows: rows}
	copyListMeta(table, obj)
	return table, nil
}

// convertKnown dispatches on the Go type. It reports ok=false for kinds without a dedicated
// printer.
func convertKnown(obj runtime.Object, now time.Time) ([]metav1.TableColumnDefinition, []metav1.TableRow, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return podColumns(), one(o, podRow, now), true
	case *corev1.PodList:
		return podColumns(), each(o.Items, podRow, now), true
	case *corev1.Namespace:
		return namespaceColumns(), one(o, namespaceRow, now), true
	case *corev1.NamespaceList:
		return namespaceColumns(), each(o.Items, namespaceRow, now), true
	case *corev1.Secret:
		return secretColumns(), one(o, secretRow, now), true
	case *corev1.SecretList:
		return secretColumns(), each(o.Items, secretRow, now), true
	case *corev1.ServiceAccount:
		return serviceAccountColumns(), one(o, serviceAccountRow, now), true
	case *corev1.ServiceAccountList:
		return serviceAccountColumns(), each(o.Items, serviceAccountRow, now), true
	case *corev1.ConfigMap:
		return configMapColumns(), one(o, configMapRow, now), true
	case *corev1.ConfigMapList:
		return configMapColumns(), each(o.Items, configMapRow, now), true
	case *corev1.Service:
		return serviceColumns(), one(o, serviceRow, now), true
	case *corev1.ServiceList:
		return serviceColumns(), each(o.Items, serviceRow, now), true
	case *corev1.Endpoints:
		return endpointsColumns(), one(o, endpointsRow, now), true
	case *corev1.EndpointsList:
		return endpointsColumns(), each(o.Items, endpointsRow, now), true
	case *corev1.Node:
		return nodeColumns(), one(o, nodeRow, now), true
	case *corev1.NodeList:
		return nodeColumns(), each(o.Items, nodeRow, now), true
	case *corev1.Event:
		return eventColumns(), one(o, eventRow, now), true
	case *corev1.EventList:
		return eventColumns(), each(o.Items, eventRow, now), true
	case *eventsv1.Event:
		return eventColumns(), one(o, eventsV1Row, now), true
	case *eventsv1.EventList:
		return eventColumns(), each(o.Items, eventsV1Row, now), true
	case *discoveryv1.EndpointSlice:
		return endpointSliceColumns(), one(o, endpointSliceRow, now), true
	case *discoveryv1.EndpointSliceList:
		return endpointSliceColumns(), each(o.Items, endpointSliceRow, now), true
	case *rbacv1.RoleBinding:
		return roleBindingColumns(), one(o, roleBindingRow, now), true
	case *rbacv1.RoleBindingList:
		return roleBindingColumns(), each(o.Items, roleBindingRow, now), true
	case *rbacv1.ClusterRoleBinding:
		return roleBindingColumns(), one(o, clusterRoleBindingRow, now), true
	case *rbacv1.ClusterRoleBindingList:
		return roleBindingColumns(), each(o.Items, clusterRoleBindingRow, now), true
	case *coordinationv1.Lease:
		return leaseColumns(), one(o, leaseRow, now), true
	case *coordinationv1.LeaseList:
		return leaseColumns(), each(o.Items, leaseRow, now), true
	}
	return nil, nil, false
}

// one prints a single object.
func one[T any](obj *T, row func(*T, time.Time) metav1.TableRow, now time.Time) []metav1.TableRow {
	return []metav1.TableRow{row(obj, now)}
}

// each prints every item of a typed list in list order (Kubernetes does not re-sort).
func each[T any](items []T, row func(*T, time.Time) metav1.TableRow, now time.Time) []metav1.TableRow {
	rows := make([]metav1.TableRow, 0, len(items))
	for i := range items {
		rows = append(rows, row(&items[i], now))
	}
	return rows
}

// copyListMeta mirrors Kubernetes' table generator: list metadata for lists, the object's
// resourceVersion otherwise, so `kubectl get -w` can resume from the table it got.
func copyListMeta(table *metav1.Table, obj runtime.Object) {
	if meta.IsListType(obj) {
		if m, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
			table.Continue = m.GetContinue()
			table.RemainingItemCount = m.GetRemainingItemCount()
		}
		return
	}
	if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
}

// defaultTable is the equivalent of rest.NewDefaultTableConvertor: Name and Created At.
func defaultTable(obj runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: defaultColumns(), Rows: []metav1.TableRow{}}
	add := func(o runtime.Object) error {
		m, err := meta.Accessor(o)
		if err != nil {
			return fmt.Errorf("printers: %T: %w", o, ErrNotTable)
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells: []interface{}{m.GetName(), m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)},
		})
		return nil
	}
	var err error
	if meta.IsListType(obj) {
		err = meta.EachListItem(obj, add)
	} else {
		err = add(obj)
	}
	if err != nil {
		return nil, err
	}
	if m, lerr := meta.ListAccessor(obj); lerr == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, cerr := meta.CommonAccessor(obj); cerr == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// age renders the AGE cell the way kubectl users know it ("5m", "3d4h"); a zero
// timestamp is "<unknown>" rather than an absurd 2000-year age.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// microAge is age for the MicroTime fields of events (eventTime, series.lastObservedTime).
func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone is the "<none>" placeholder kubectl users expect for an empty cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

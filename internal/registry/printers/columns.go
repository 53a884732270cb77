package printers

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Column descriptions come from the generated API documentation (SwaggerDoc) where
// Kubernetes takes them from there, so `kubectl explain`-style text and the table agree
// with a real API server byte for byte.
var (
	objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()
	nameDoc       = objectMetaDoc["name"]
	ageDoc        = objectMetaDoc["creationTimestamp"]
)

// col is a short constructor; priority 1 marks the columns kubectl shows only with -o wide.
func col(name, typ, format, description string, priority int32) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Format: format, Description: description, Priority: priority}
}

func nameCol() metav1.TableColumnDefinition { return col("Name", "string", "name", nameDoc, 0) }
func ageCol() metav1.TableColumnDefinition  { return col("Age", "string", "", ageDoc, 0) }

// The column sets are built by functions, not shared package variables, so a caller that
// edits a returned table (e.g. drops headers for noHeaders) cannot corrupt later tables.

func podColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
		col("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
		col("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
		ageCol(),
		col("IP", "string", "", corev1.PodStatus{}.SwaggerDoc()["podIP"], 1),
		col("Node", "string", "", corev1.PodSpec{}.SwaggerDoc()["nodeName"], 1),
		col("Nominated Node", "string", "", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"], 1),
		col("Readiness Gates", "string", "", corev1.PodSpec{}.SwaggerDoc()["readinessGates"], 1),
	}
}

func namespaceColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Status", "string", "", "The status of the namespace", 0),
		ageCol(),
	}
}

func secretColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Type", "string", "", corev1.Secret{}.SwaggerDoc()["type"], 0),
		col("Data", "string", "", corev1.Secret{}.SwaggerDoc()["data"], 0),
		ageCol(),
	}
}

func serviceAccountColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Secrets", "string", "", corev1.ServiceAccount{}.SwaggerDoc()["secrets"], 0),
		ageCol(),
	}
}

func configMapColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Data", "string", "", corev1.ConfigMap{}.SwaggerDoc()["data"], 0),
		ageCol(),
	}
}

func serviceColumns() []metav1.TableColumnDefinition {
	spec := corev1.ServiceSpec{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Type", "string", "", spec["type"], 0),
		col("Cluster-IP", "string", "", spec["clusterIP"], 0),
		col("External-IP", "string", "", spec["externalIPs"], 0),
		col("Port(s)", "string", "", spec["ports"], 0),
		ageCol(),
		col("Selector", "string", "", spec["selector"], 1),
	}
}

func endpointsColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Endpoints", "string", "", corev1.Endpoints{}.SwaggerDoc()["subsets"], 0),
		ageCol(),
	}
}

func nodeColumns() []metav1.TableColumnDefinition {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addresses := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Status", "string", "", "The status of the node", 0),
		col("Roles", "string", "", "The roles of the node", 0),
		ageCol(),
		col("Version", "string", "", info["kubeletVersion"], 0),
		col("Internal-IP", "string", "", addresses, 1),
		col("External-IP", "string", "", addresses, 1),
		col("OS-Image", "string", "", info["osImage"], 1),
		col("Kernel-Version", "string", "", info["kernelVersion"], 1),
		col("Container-Runtime", "string", "", info["containerRuntimeVersion"], 1),
	}
}

// eventColumns serves both core/v1 and events.k8s.io/v1 Events: Kubernetes stores both in
// one registry and prints them through the same (core) printer.
func eventColumns() []metav1.TableColumnDefinition {
	ev := corev1.Event{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		col("Last Seen", "string", "", ev["lastTimestamp"], 0),
		col("Type", "string", "", ev["type"], 0),
		col("Reason", "string", "", ev["reason"], 0),
		col("Object", "string", "", ev["involvedObject"], 0),
		col("Subobject", "string", "", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"], 1),
		col("Source", "string", "", ev["source"], 1),
		col("Message", "string", "", ev["message"], 0),
		col("First Seen", "string", "", ev["firstTimestamp"], 1),
		col("Count", "string", "", ev["count"], 1),
		col("Name", "string", "name", nameDoc, 1),
	}
}

func leaseColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Holder", "string", "", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"], 0),
		ageCol(),
	}
}

// defaultColumns are those of k8s.io/apiserver's default table convertor.
func defaultColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Created At", "date", "", ageDoc, 0),
	}
}

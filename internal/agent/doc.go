// Package agent is berth's node agent: the kubelet of a one-node cluster.
// It registers its Node and keeps it Ready (status heartbeat and a Lease),
// watches the pods bound to it, and runs each pod through one serial
// worker: sandbox, init containers, containers, status. It talks to the
// API server only through client-go and to the runtime only through CRI,
// so it can join any Kubernetes control plane.
package agent

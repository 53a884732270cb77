package auth

import (
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/auth/nodeidentifier"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/node"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// newNodeAuthorizer is kube-apiserver's Node authorizer: a node
// (system:node:NAME in system:nodes) may read the secrets, configmaps,
// service accounts and claims of pods bound to it, write its own Node,
// Lease and pods' status, and do what bootstrappolicy.NodeRules allows
// every node. Its graph is fed from pod and node informers as
// kube-apiserver's is. berth serves no PersistentVolumes,
// VolumeAttachments, ResourceSlices or PodCertificateRequests, so those
// edges come from informers over an always-empty source (returned to be
// run with the others) rather than from informers that would list unknown
// resources forever.
func newNodeAuthorizer(f informers.SharedInformerFactory) (*node.NodeAuthorizer, []cache.InformerSynced, []cache.SharedIndexInformer) {
	pvs, attachments := newEmptyPersistentVolumes(), newEmptyVolumeAttachments()
	graph := node.NewGraph()
	node.AddGraphEventHandlers(graph, f.Core().V1().Nodes(), f.Core().V1().Pods(), pvs, attachments, nil, nil)
	empty := []cache.SharedIndexInformer{pvs.Informer(), attachments.Informer()}
	synced := []cache.InformerSynced{
		f.Core().V1().Pods().Informer().HasSynced, f.Core().V1().Nodes().Informer().HasSynced,
		pvs.Informer().HasSynced, attachments.Informer().HasSynced,
	}
	return node.NewAuthorizer(graph, nodeidentifier.NewDefaultNodeIdentifier(), bootstrappolicy.NodeRules()), synced, empty
}

var _ authorizer.RuleResolver = (*node.NodeAuthorizer)(nil)

package auth

import (
	"github.com/berth-dev/berth/internal/emptyinformer"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
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
// every node. Its graph is fed from f's pod and node informers as
// kube-apiserver's is. berth serves no PersistentVolumes,
// VolumeAttachments, ResourceSlices or PodCertificateRequests: f serves
// the first two from empty informers, rather than informers that would
// list unknown resources forever.
func newNodeAuthorizer(f informers.SharedInformerFactory) (*node.NodeAuthorizer, []cache.InformerSynced) {
	f.InformerFor(&corev1.PersistentVolume{}, emptyinformer.For(&corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}))
	f.InformerFor(&storagev1.VolumeAttachment{}, emptyinformer.For(&storagev1.VolumeAttachment{}, &storagev1.VolumeAttachmentList{}))
	core, storage := f.Core().V1(), f.Storage().V1()
	graph := node.NewGraph()
	node.AddGraphEventHandlers(graph, core.Nodes(), core.Pods(), core.PersistentVolumes(), storage.VolumeAttachments(), nil, nil)
	synced := []cache.InformerSynced{
		core.Pods().Informer().HasSynced, core.Nodes().Informer().HasSynced,
		core.PersistentVolumes().Informer().HasSynced, storage.VolumeAttachments().Informer().HasSynced,
	}
	return node.NewAuthorizer(graph, nodeidentifier.NewDefaultNodeIdentifier(), bootstrappolicy.NodeRules()), synced
}

var _ authorizer.RuleResolver = (*node.NodeAuthorizer)(nil)

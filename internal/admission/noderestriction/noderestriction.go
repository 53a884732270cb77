// Package noderestriction runs Kubernetes' NodeRestriction admission
// plugin (plugin/pkg/admission/noderestriction) in berth's admission
// chain: a node identity (system:node:NAME in system:nodes) may write only
// its own Node (not its taints or restricted labels), its own Lease, the
// status of pods bound to it, delete pods bound to it, create mirror pods
// for itself and request tokens only for pods bound to it. The upstream
// plugin works on internal types and k8s.io/apiserver attributes; this
// adapter converts berth's v1 objects and attributes to those.
package noderestriction

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/internal/admission"
	"k8s.io/apimachinery/pkg/runtime"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core"
	corev1informers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage"
	authninstall "k8s.io/kubernetes/pkg/apis/authentication/install"
	certinstall "k8s.io/kubernetes/pkg/apis/certificates/install"
	coordinstall "k8s.io/kubernetes/pkg/apis/coordination/install"
	coreinstall "k8s.io/kubernetes/pkg/apis/core/install"
	storageinstall "k8s.io/kubernetes/pkg/apis/storage/install"
	"k8s.io/kubernetes/pkg/auth/nodeidentifier"
	upstream "k8s.io/kubernetes/plugin/pkg/admission/noderestriction"
)

// PluginName is Kubernetes' name for the plugin.
const PluginName = upstream.PluginName

// Plugin adapts upstream NodeRestriction to berth's admission chain.
type Plugin struct {
	inner  *upstream.Plugin
	scheme *runtime.Scheme
	ids    nodeidentifier.NodeIdentifier
}

// New builds the plugin over f (pods, nodes and service accounts are read
// from its caches; f must be started after New). empty is a factory whose
// caches stay empty: berth serves no PersistentVolumes, claims or
// CSIDrivers, which the plugin reads only when a pod uses them.
func New(f, empty informers.SharedInformerFactory, authz authorizer.UnconditionalAuthorizer) (*Plugin, error) {
	ids := nodeidentifier.NewDefaultNodeIdentifier()
	p := upstream.NewPlugin(ids)
	p.InspectFeatureGates(utilfeature.DefaultFeatureGate)
	p.SetExternalKubeInformerFactory(mixedFactory{SharedInformerFactory: f, empty: empty})
	p.SetUnconditionalAuthorizer(authz)
	if err := p.ValidateInitialization(); err != nil {
		return nil, err
	}
	s := runtime.NewScheme()
	coreinstall.Install(s)
	coordinstall.Install(s)
	authninstall.Install(s)
	certinstall.Install(s)
	storageinstall.Install(s)
	return &Plugin{inner: p, scheme: s, ids: ids}, nil
}

// Admit runs the upstream check. It is a mutating plugin upstream (it runs
// before validation); it mutates nothing.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil // in-process writes carry no user and are not a node's
	}
	if !p.inner.Handles(k8sadmission.Operation(a.Operation)) {
		return nil
	}
	// The upstream plugin's first check, made before the conversion to
	// internal types (a copy of every object written) that only a node's
	// request needs: a user that is not a node is not node-restricted.
	if _, isNode := p.ids.NodeIdentity(u); !isNode {
		return nil
	}
	obj, err := p.internal(a.Object)
	if err != nil {
		return err
	}
	old, err := p.internal(a.OldObject)
	if err != nil {
		return err
	}
	attrs := k8sadmission.NewAttributesRecord(obj, old, a.Kind, a.Namespace, a.Name, a.Resource, a.Subresource,
		k8sadmission.Operation(a.Operation), nil, a.DryRun, u)
	return p.inner.Admit(ctx, attrs, nil)
}

// internal converts a v1 object to its internal type; kinds the scheme
// does not know pass through unchanged.
func (p *Plugin) internal(obj runtime.Object) (runtime.Object, error) {
	if obj == nil {
		return nil, nil
	}
	gvks, _, err := p.scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return obj, nil
	}
	out, err := p.scheme.ConvertToVersion(obj.DeepCopyObject(), gvks[0].GroupKind().WithVersion(runtime.APIVersionInternal).GroupVersion())
	if err != nil {
		return nil, fmt.Errorf("noderestriction: convert %s: %w", gvks[0].Kind, err)
	}
	return out, nil
}

// mixedFactory gives the plugin the real caches for what berth serves and
// empty ones for PersistentVolumes, claims and CSIDrivers.
type mixedFactory struct {
	informers.SharedInformerFactory
	empty informers.SharedInformerFactory
}

func (m mixedFactory) Core() coreinformers.Interface {
	return mixedCore{Interface: m.SharedInformerFactory.Core(), empty: m.empty.Core()}
}
func (m mixedFactory) Storage() storageinformers.Interface { return m.empty.Storage() }

type mixedCore struct {
	coreinformers.Interface
	empty coreinformers.Interface
}

func (c mixedCore) V1() corev1informers.Interface {
	return mixedCoreV1{Interface: c.Interface.V1(), empty: c.empty.V1()}
}

type mixedCoreV1 struct {
	corev1informers.Interface
	empty corev1informers.Interface
}

func (c mixedCoreV1) PersistentVolumes() corev1informers.TypedPersistentVolumeInformer {
	return c.empty.PersistentVolumes()
}
func (c mixedCoreV1) PersistentVolumeClaims() corev1informers.TypedPersistentVolumeClaimInformer {
	return c.empty.PersistentVolumeClaims()
}

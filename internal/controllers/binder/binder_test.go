package binder

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func node(name string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func tainted(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func ready(status corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Status.Conditions[0].Status = status }
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func pod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{SchedulerName: SchedulerName,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func tolerating(tols ...corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, tols...) }
}

func selecting(sel map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.NodeSelector = sel }
}

func requiring(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

const notHelpful1 = " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."

func TestPickNode(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		nodes    []*corev1.Node
		wantNode string
		wantWhy  string
	}{
		{name: "no nodes", pod: pod("p"), wantWhy: "no nodes available to schedule pods"},
		{name: "ready node", pod: pod("p"), nodes: []*corev1.Node{node("n1")}, wantNode: "n1"},
		{name: "untolerated NoSchedule taint", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1},
		{name: "untolerated NoExecute taint", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", tainted("maintenance", "", corev1.TaintEffectNoExecute))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {maintenance: }." + notHelpful1},
		{name: "control-plane taint", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", tainted("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }." + notHelpful1},
		{name: "PreferNoSchedule does not block", pod: pod("p"),
			nodes: []*corev1.Node{node("n1", tainted("soft", "x", corev1.TaintEffectPreferNoSchedule))}, wantNode: "n1"},
		{name: "Equal toleration",
			pod:   pod("p", tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule})),
			nodes: []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))}, wantNode: "n1"},
		{name: "default operator is Equal",
			pod:   pod("p", tolerating(corev1.Toleration{Key: "dedicated", Value: "gpu"})),
			nodes: []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoExecute))}, wantNode: "n1"},
		{name: "Equal toleration with another value",
			pod:     pod("p", tolerating(corev1.Toleration{Key: "dedicated", Value: "cpu"})),
			nodes:   []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1},
		{name: "Exists toleration ignores the value",
			pod:   pod("p", tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})),
			nodes: []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))}, wantNode: "n1"},
		{name: "empty key with Exists tolerates everything",
			pod: pod("p", tolerating(corev1.Toleration{Operator: corev1.TolerationOpExists})),
			nodes: []*corev1.Node{node("n1", tainted("a", "1", corev1.TaintEffectNoSchedule), tainted("b", "2", corev1.TaintEffectNoExecute),
				ready(corev1.ConditionFalse), cordoned)}, wantNode: "n1"},
		{name: "toleration for another effect",
			pod:     pod("p", tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			nodes:   []*corev1.Node{node("n1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1},
		{name: "Gt toleration is feature-gated off",
			pod:     pod("p", tolerating(corev1.Toleration{Key: "tier", Operator: corev1.TolerationOpGt, Value: "1"})),
			nodes:   []*corev1.Node{node("n1", tainted("tier", "5", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {tier: 5}." + notHelpful1},
		{name: "first untolerated taint is reported",
			pod: pod("p", tolerating(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists})),
			nodes: []*corev1.Node{node("n1", tainted("a", "1", corev1.TaintEffectNoSchedule), tainted("b", "2", corev1.TaintEffectNoSchedule),
				tainted("c", "3", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {b: 2}." + notHelpful1},
		{name: "not ready node", pod: pod("p"), nodes: []*corev1.Node{node("n1", ready(corev1.ConditionFalse))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }." + notHelpful1},
		{name: "node without a Ready condition yet", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", func(n *corev1.Node) { n.Status.Conditions = nil })},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }." + notHelpful1},
		{name: "unreachable node", pod: pod("p"), nodes: []*corev1.Node{node("n1", ready(corev1.ConditionUnknown))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }." + notHelpful1},
		{name: "not-ready taint already on the node is not doubled", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", ready(corev1.ConditionFalse), tainted("node.kubernetes.io/not-ready", "", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }." + notHelpful1},
		{name: "pod tolerating not-ready",
			pod:   pod("p", tolerating(corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})),
			nodes: []*corev1.Node{node("n1", ready(corev1.ConditionFalse))}, wantNode: "n1"},
		{name: "cordoned node wins over taints", pod: pod("p"),
			nodes:   []*corev1.Node{node("n1", cordoned, tainted("a", "", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) were unschedulable." + notHelpful1},
		{name: "pod tolerating cordon",
			pod:   pod("p", tolerating(corev1.Toleration{Key: "node.kubernetes.io/unschedulable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})),
			nodes: []*corev1.Node{node("n1", cordoned)}, wantNode: "n1"},
		{name: "nodeSelector matches", pod: pod("p", selecting(map[string]string{"kubernetes.io/hostname": "n1"})),
			nodes: []*corev1.Node{node("n1")}, wantNode: "n1"},
		{name: "nodeSelector does not match", pod: pod("p", selecting(map[string]string{"disktype": "ssd"})),
			nodes:   []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
		{name: "nodeSelector for an empty value needs the label", pod: pod("p", selecting(map[string]string{"gpu": ""})),
			nodes:   []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
		{name: "taints are checked before affinity", pod: pod("p", selecting(map[string]string{"disktype": "ssd"})),
			nodes:   []*corev1.Node{node("n1", tainted("a", "b", corev1.TaintEffectNoSchedule))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {a: b}." + notHelpful1},
		{name: "required affinity In", pod: pod("p", requiring(expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, "n0", "n1"))),
			nodes: []*corev1.Node{node("n1")}, wantNode: "n1"},
		{name: "required affinity NotIn", pod: pod("p", requiring(expr("kubernetes.io/hostname", corev1.NodeSelectorOpNotIn, "n1"))),
			nodes:   []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
		{name: "required affinity terms are ORed",
			pod:   pod("p", requiring(expr("zone", corev1.NodeSelectorOpExists), expr("zone", corev1.NodeSelectorOpDoesNotExist))),
			nodes: []*corev1.Node{node("n1")}, wantNode: "n1"},
		{name: "required affinity Gt",
			pod:   pod("p", requiring(expr("cores", corev1.NodeSelectorOpGt, "4"))),
			nodes: []*corev1.Node{node("n1", func(n *corev1.Node) { n.Labels["cores"] = "8" })}, wantNode: "n1"},
		{name: "required affinity matchFields",
			pod: pod("p", requiring(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}}})),
			nodes: []*corev1.Node{node("n1"), node("n2")}, wantNode: "n2"},
		{name: "empty affinity term matches nothing", pod: pod("p", requiring(corev1.NodeSelectorTerm{})),
			nodes:   []*corev1.Node{node("n1")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful1},
		{name: "first fitting node by name", pod: pod("p"),
			nodes: []*corev1.Node{node("n3"), node("n2", cordoned), node("n1", ready(corev1.ConditionFalse)), node("n4")}, wantNode: "n3"},
		{name: "reasons are counted and sorted", pod: pod("p"),
			nodes: []*corev1.Node{node("n1", tainted("a", "b", corev1.TaintEffectNoSchedule)), node("n2", cordoned), node("n3", cordoned)},
			wantWhy: "0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 node(s) were unschedulable. " +
				"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotNode, gotWhy := pickNode(tt.pod, tt.nodes)
			if gotNode != tt.wantNode || gotWhy != tt.wantWhy {
				t.Errorf("pickNode = %q, %q\nwant       %q, %q", gotNode, gotWhy, tt.wantNode, tt.wantWhy)
			}
		})
	}
}

func bindings(client *fake.Clientset) []*corev1.Binding {
	var out []*corev1.Binding
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" && a.GetSubresource() == "binding" {
			out = append(out, a.(k8stesting.CreateAction).GetObject().(*corev1.Binding))
		}
	}
	return out
}

func statusUpdates(client *fake.Clientset) []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "pods" && a.GetSubresource() == "status" {
			out = append(out, a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod))
		}
	}
	return out
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestSyncPod(t *testing.T) {
	podsGR := schema.GroupResource{Resource: "pods"}
	now := metav1.Now()
	tests := []struct {
		name       string
		pod        *corev1.Pod
		nodes      []*corev1.Node
		bindErr    error
		livePod    *corev1.Pod // what a GET after a bind conflict returns
		wantBind   string      // node name
		wantStatus string      // PodScheduled message written
		wantEvents []string
		wantErr    string
	}{
		{name: "binds to the node", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			wantEvents: []string{"Normal Scheduled Successfully assigned default/web to node1"}},
		{name: "empty scheduler name is ours", pod: pod("web", func(p *corev1.Pod) { p.Spec.SchedulerName = "" }),
			nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			wantEvents: []string{"Normal Scheduled Successfully assigned default/web to node1"}},
		{name: "other scheduler's pod is left alone", pod: pod("web", func(p *corev1.Pod) { p.Spec.SchedulerName = "volcano" }),
			nodes: []*corev1.Node{node("node1")}},
		{name: "bound pod is left alone", pod: pod("web", func(p *corev1.Pod) { p.Spec.NodeName = "node1" }),
			nodes: []*corev1.Node{node("node1")}},
		{name: "deleting pod is left alone", pod: pod("web", func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
			nodes: []*corev1.Node{node("node1")}},
		{name: "finished pod is left alone", pod: pod("web", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
			nodes: []*corev1.Node{node("node1")}},
		{name: "gated pod is left alone", pod: pod("web", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
		}), nodes: []*corev1.Node{node("node1")}},
		{name: "no node yet", pod: pod("web"), wantStatus: "no nodes available to schedule pods",
			wantEvents: []string{"Warning FailedScheduling no nodes available to schedule pods"}},
		{name: "tainted node", pod: pod("web"), nodes: []*corev1.Node{node("node1", tainted("dedicated", "gpu", corev1.TaintEffectNoSchedule))},
			wantStatus: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1,
			wantEvents: []string{"Warning FailedScheduling 0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful1}},
		{name: "unchanged condition is not rewritten but the event repeats",
			pod: pod("web", func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "no nodes available to schedule pods"}}
			}),
			wantEvents: []string{"Warning FailedScheduling no nodes available to schedule pods"}},
		{name: "already assigned is success", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			bindErr: apierrors.NewConflict(podsGR, "web", errors.New(`pod web is already assigned to node "node1"`)),
			livePod: pod("web", func(p *corev1.Pod) { p.Spec.NodeName = "node1" })},
		{name: "being deleted is success", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			bindErr: apierrors.NewConflict(podsGR, "web", errors.New("pod web is being deleted, cannot be assigned to a host")),
			livePod: pod("web", func(p *corev1.Pod) { p.DeletionTimestamp = &now })},
		{name: "other conflicts are retried", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			bindErr: apierrors.NewConflict(podsGR, "web", errors.New("the object has been modified")),
			livePod: pod("web"), wantErr: `binding pod default/web to node "node1"`},
		{name: "deleted pod is success", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			bindErr: apierrors.NewNotFound(podsGR, "web")},
		{name: "binding failure is reported and retried", pod: pod("web"), nodes: []*corev1.Node{node("node1")}, wantBind: "node1",
			bindErr: apierrors.NewServiceUnavailable("storage unavailable"), wantErr: `binding pod default/web to node "node1"`,
			wantEvents: []string{"Warning FailedScheduling Binding rejected: storage unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := tt.livePod
			if live == nil {
				live = tt.pod
			}
			client := fake.NewClientset(live)
			if tt.bindErr != nil {
				client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.GetSubresource() != "binding" {
						return false, nil, nil
					}
					return true, nil, tt.bindErr
				})
			}
			rec := record.NewFakeRecorder(10)
			c := New(client, Config{Recorder: rec, Logger: quiet})
			if err := c.podInformer.GetIndexer().Add(tt.pod); err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.nodes {
				if err := c.factory.Core().V1().Nodes().Informer().GetIndexer().Add(n); err != nil {
					t.Fatal(err)
				}
			}

			err := c.syncPod(context.Background(), "default/web")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("sync: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("sync error = %v, want one containing %q", err, tt.wantErr)
			}

			bs := bindings(client)
			switch {
			case tt.wantBind == "" && len(bs) != 0:
				t.Errorf("bound to %q, want no binding", bs[0].Target.Name)
			case tt.wantBind != "" && len(bs) != 1:
				t.Errorf("%d bindings, want 1 to %q", len(bs), tt.wantBind)
			case tt.wantBind != "":
				b := bs[0]
				if b.Target.Kind != "Node" || b.Target.Name != tt.wantBind || b.Name != "web" || b.Namespace != "default" || b.UID != tt.pod.UID {
					t.Errorf("binding = %+v, want default/web (uid %s) to Node %q", b, tt.pod.UID, tt.wantBind)
				}
			}

			us := statusUpdates(client)
			switch {
			case tt.wantStatus == "" && len(us) != 0:
				t.Errorf("status written %d times, want never", len(us))
			case tt.wantStatus != "" && len(us) != 1:
				t.Errorf("status written %d times, want once", len(us))
			case tt.wantStatus != "":
				cond := scheduledCondition(us[0])
				if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != "Unschedulable" ||
					cond.Message != tt.wantStatus || cond.LastTransitionTime.IsZero() {
					t.Errorf("PodScheduled = %+v, want False/Unschedulable %q with a transition time", cond, tt.wantStatus)
				}
			}

			if got := drain(rec); strings.Join(got, "\n") != strings.Join(tt.wantEvents, "\n") {
				t.Errorf("events = %q, want %q", got, tt.wantEvents)
			}
		})
	}
}

// apiServerLikeBinding makes the fake clientset's Bind act as the API
// server's binding subresource: it assigns the pod, or reports a conflict
// when it already is.
func apiServerLikeBinding(client *fake.Clientset) {
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		obj, err := client.Tracker().Get(gvr, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		if p.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), p.Name, errors.New("already assigned"))
		}
		p.Spec.NodeName = b.Target.Name
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
		return true, b, client.Tracker().Update(gvr, p, p.Namespace)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(pod("early"))
	apiServerLikeBinding(client)
	c := New(client, Config{Logger: quiet}) // events go to the API
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after ctx ended")
		}
	}()
	waitFor(t, "caches to sync", c.HasSynced)

	getPod := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
		return p
	}
	reasonIs := func(name, reason string) func() bool {
		return func() bool {
			cond := scheduledCondition(getPod(name))
			return cond != nil && cond.Reason == reason
		}
	}
	boundTo := func(name, node string) func() bool {
		return func() bool { return getPod(name).Spec.NodeName == node }
	}

	// Before any node exists the pod waits, and says why.
	waitFor(t, "early to be marked unschedulable", reasonIs("early", corev1.PodReasonUnschedulable))
	if msg := scheduledCondition(getPod("early")).Message; msg != "no nodes available to schedule pods" {
		t.Errorf("early's PodScheduled message = %q", msg)
	}

	// A node that is not ready yet does not take it.
	n := node("node1", ready(corev1.ConditionFalse))
	if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "early's message to name the not-ready taint", func() bool {
		cond := scheduledCondition(getPod("early"))
		return strings.Contains(cond.Message, "{node.kubernetes.io/not-ready: }")
	})

	// The node becomes Ready: the waiting pod is bound without further ado.
	n.Status.Conditions[0].Status = corev1.ConditionTrue
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "early to be bound to node1", boundTo("early", "node1"))

	// New pods are bound as they come.
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod("late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late to be bound to node1", boundTo("late", "node1"))

	// A pod gaining a toleration is retried at once.
	n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache to see the taint", func() bool {
		cached, err := c.nodeLister.Get("node1")
		return err == nil && len(cached.Spec.Taints) == 1
	})
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod("picky"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "picky to be unschedulable", reasonIs("picky", corev1.PodReasonUnschedulable))
	p := getPod("picky")
	p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "picky to be bound after gaining a toleration", boundTo("picky", "node1"))

	// Events reach the API as kube-scheduler's do.
	var scheduled, failed *corev1.Event
	waitFor(t, "Scheduled and FailedScheduling events", func() bool {
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for i := range evs.Items {
			e := &evs.Items[i]
			if e.InvolvedObject.Name == "early" && e.Reason == ReasonScheduled {
				scheduled = e
			}
			if e.InvolvedObject.Name == "picky" && e.Reason == ReasonFailedScheduling {
				failed = e
			}
		}
		return scheduled != nil && failed != nil
	})
	if scheduled.Type != corev1.EventTypeNormal || scheduled.Message != "Successfully assigned default/early to node1" ||
		scheduled.Source.Component != "default-scheduler" || scheduled.ReportingController != "default-scheduler" ||
		scheduled.InvolvedObject.Kind != "Pod" {
		t.Errorf("Scheduled event = type %s message %q source %q reportingController %q kind %q", scheduled.Type,
			scheduled.Message, scheduled.Source.Component, scheduled.ReportingController, scheduled.InvolvedObject.Kind)
	}
	if failed.Type != corev1.EventTypeWarning || !strings.HasPrefix(failed.Message, "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.") {
		t.Errorf("FailedScheduling event = type %s message %q", failed.Type, failed.Message)
	}
}

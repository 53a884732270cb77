package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// relistPeriod is how often the runtime is listed to notice container
// exits (the kubelet's PLEG relists every second).
const relistPeriod = time.Second

// relistLoop wakes a pod's worker when one of its containers changed
// state, and cleans up runtime objects of pods that no longer exist.
func (a *Agent) relistLoop(ctx context.Context) {
	t := time.NewTicker(relistPeriod)
	defer t.Stop()
	cleanupEvery := 0
	for {
		a.relist(ctx, cleanupEvery%10 == 0)
		cleanupEvery++
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) relist(ctx context.Context, cleanup bool) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, err := a.cfg.Runtime.ListContainers(cctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelManaged: "true"}})
	if err != nil {
		return
	}
	seen := map[string]string{}
	changed := map[types.UID]bool{}
	for _, c := range cs {
		state := c.State.String()
		seen[c.Id] = state
		if a.lastPLEG[c.Id] != state {
			changed[types.UID(c.GetLabels()[labelPodUID])] = true
		}
	}
	for id := range a.lastPLEG {
		if _, ok := seen[id]; !ok {
			// removed containers need no sync
			_ = id
		}
	}
	a.lastPLEG = seen
	known := map[types.UID]*corev1.Pod{}
	if pods, err := a.pods.List(everything()); err == nil {
		for _, p := range pods {
			known[p.UID] = p
		}
	}
	for uid := range changed {
		if p, ok := known[uid]; ok {
			a.syncUID(uid, p.Namespace, p.Name)
		}
	}
	if !cleanup {
		return
	}
	// Orphans: runtime objects of pods the API no longer has.
	sbs, err := a.cfg.Runtime.ListPodSandbox(cctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelManaged: "true"}})
	if err != nil {
		return
	}
	for _, sb := range sbs {
		uid := types.UID(sb.GetLabels()[labelPodUID])
		if _, ok := known[uid]; ok {
			continue
		}
		a.mu.Lock()
		_, busy := a.workers[uid]
		a.mu.Unlock()
		if !busy {
			a.syncUID(uid, sb.Metadata.GetNamespace(), sb.Metadata.GetName())
		}
	}
}

package server

import (
	"encoding/json"
	"net/http"

	corev1 "k8s.io/api/core/v1"
)

// withPods serves GET /pods in front of h, as the kubelet does: the pods
// bound to this node as a v1 PodList (e2e tests read it through the API
// server's nodes/NAME/proxy/pods to see what the node knows of a pod).
func withPods(h http.Handler, list func() ([]*corev1.Pod, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pods" && r.URL.Path != "/pods/" {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet {
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		pods, err := list()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := corev1.PodList{}
		out.Kind, out.APIVersion = "PodList", "v1"
		out.Items = make([]corev1.Pod, 0, len(pods))
		for _, p := range pods {
			item := *p.DeepCopy()
			item.Kind, item.APIVersion = "Pod", "v1"
			out.Items = append(out.Items, item)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&out)
	})
}

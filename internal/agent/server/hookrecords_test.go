package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/agent/hooks"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServeHookRecords(t *testing.T) {
	dataDir := t.TempDir()
	r := hooks.New(hooks.Config{Dir: hooks.DirIn(dataDir)})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	r.Run(context.Background(), hooks.Request{Kind: hooks.PreStop, Pod: pod, Container: &pod.Spec.Containers[0],
		Handler: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{}}})

	s := newServer(newFakeRuntime(), fakePods{}, nil)
	s.dataDir = dataDir
	tests := []struct {
		path     string
		wantCode int
		wantRuns int
	}{
		{"/berth/hookrecords/u1/app", http.StatusOK, 1},
		{"/berth/hookrecords/u1/other", http.StatusOK, 0},
		{"/berth/hookrecords/../app", http.StatusNotFound, 0}, // cleaned by the mux: no such route
		{"/berth/hookrecords/u1/..", http.StatusNotFound, 0},
		{"/berth/hookrecords/u1/%2E%2E", http.StatusBadRequest, 0}, // escaped: reaches Load, which refuses it
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.Code != tt.wantCode && !(tt.wantCode == http.StatusNotFound && w.Code >= 300 && w.Code < 500) {
			t.Errorf("GET %s = %d, want %d: %s", tt.path, w.Code, tt.wantCode, w.Body)
			continue
		}
		if w.Code != http.StatusOK {
			continue
		}
		var runs []hooks.Record
		if err := json.Unmarshal(w.Body.Bytes(), &runs); err != nil || len(runs) != tt.wantRuns || runs == nil {
			t.Errorf("GET %s = %s (%v), want %d runs as a JSON array", tt.path, w.Body, err, tt.wantRuns)
		}
	}
	s.dataDir = ""
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/berth/hookrecords/u1/app", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("without a data dir: %d, want 404", w.Code)
	}
}

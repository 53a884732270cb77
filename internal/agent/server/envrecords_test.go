package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
)

func TestServeEnvRecords(t *testing.T) {
	s := newServer(newFakeRuntime(), fakePods{}, nil)
	s.dataDir = t.TempDir()
	env := &envvars.Env{Vars: []envvars.Var{{Name: "A", Value: "a", Origin: envvars.Origin{Kind: envvars.KindValue}}}}
	if err := envvars.WriteRecord(s.dataDir, envvars.NewRecord("ns", "web", "uid-1", "app", env, time.Now())); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/berth/envrecords/uid-1/app":     http.StatusOK,
		"/berth/envrecords/uid-1/other":   http.StatusNotFound,
		"/berth/envrecords/..%2F..%2Fx/a": http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
			continue
		}
		if want == http.StatusOK {
			var r envvars.Record
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || len(r.Vars) != 1 || r.Vars[0].Value != "a" {
				t.Errorf("%s: %s (%v)", path, rec.Body.String(), err)
			}
		}
	}
}

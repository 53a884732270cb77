package httpget

import (
	"context"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNewRequest(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}, {Name: "zero"}}}
	tests := []struct {
		name       string
		get        corev1.HTTPGetAction
		podIP      string
		wantURL    string
		wantHeader http.Header
		wantHost   string
		wantErr    string
	}{
		{name: "pod IP, query kept, defaults", get: corev1.HTTPGetAction{Path: "/echo?msg=poststart", Port: intstr.FromInt32(80)}, podIP: "10.88.0.5",
			wantURL: "http://10.88.0.5:80/echo?msg=poststart", wantHeader: http.Header{"User-Agent": {"ua/1"}, "Accept": {"*/*"}}},
		{name: "named port, HTTPS upper-case", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web"), Scheme: "HTTPS"}, podIP: "fd00::5",
			wantURL: "https://[fd00::5]:8080/"},
		{name: "number as a string", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("81")}, podIP: "10.88.0.5", wantURL: "http://10.88.0.5:81/"},
		{name: "headers: repeats, empty Accept removed, Host", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Host: "h.example",
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "1"}, {Name: "X", Value: "2"}, {Name: "Accept", Value: ""}, {Name: "Host", Value: "v.example"}}},
			wantURL: "http://h.example:80/", wantHeader: http.Header{"X": {"1", "2"}, "Accept": nil, "User-Agent": {"ua/1"}}, wantHost: "v.example"},
		{name: "no host", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}, wantErr: ErrNoHost.Error()},
		{name: "port 0 by name", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("zero")}, podIP: "10.88.0.5", wantErr: "invalid port number: 0"},
		{name: "port out of range", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(70000)}, podIP: "10.88.0.5", wantErr: "invalid port number: 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewRequest(context.Background(), &tt.get, c, tt.podIP, "ua/1")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL {
				t.Errorf("URL = %s, want %s", req.URL, tt.wantURL)
			}
			for k, v := range tt.wantHeader {
				got := req.Header.Values(k)
				if len(got) != len(v) || (len(v) > 0 && got[len(got)-1] != v[len(v)-1]) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if req.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", req.Host, tt.wantHost)
			}
		})
	}
}

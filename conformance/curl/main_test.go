package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("X-Method", r.Method)
			w.Write([]byte(r.URL.Query().Get("msg") + "|" + r.Header.Get("Authorization")))
		case "/missing":
			http.Error(w, "no", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	out := filepath.Join(t.TempDir(), "body")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
	}{
		{"plain GET without scheme, as the lifecycle hook tests", []string{host + "/echo?msg=poststart"}, 0, "poststart|"},
		{"grouped short flags, -w and -o", []string{"-sIk", "-o", out, "-w", "%{http_code}", srv.URL + "/echo"}, 0, "200"},
		{"header and -XGET", []string{"-XGET", "-s", "--header", "Authorization: Bearer x", srv.URL + "/echo?msg=a"}, 0, "a|Bearer x"},
		{"-f on 404", []string{"-sf", srv.URL + "/missing"}, 22, ""},
		{"404 without -f", []string{"-s", "-w", `\n%{http_code}`, srv.URL + "/missing"}, 0, "no\n\n404"},
		{"unreachable", []string{"-s", "-m", "2", "http://127.0.0.1:1/"}, 7, ""},
		{"unknown flag", []string{"--nope", srv.URL}, 2, ""},
		{"no URL", []string{"-s"}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode || stdout.String() != tc.wantStdout {
				t.Fatalf("curl %q = %d, stdout %q (stderr %q); want %d, %q", tc.args, code, stdout.String(), stderr.String(), tc.wantCode, tc.wantStdout)
			}
		})
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
		t.Fatalf("-I -o wrote %q, %v; want the status line and headers", b, err)
	}
}

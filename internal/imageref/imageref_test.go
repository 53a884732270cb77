package imageref

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const dgst = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, repo, tag, digest string
		wantErr               bool
	}{
		{in: "busybox", repo: "docker.io/library/busybox", tag: "latest"},
		{in: "busybox:1.36", repo: "docker.io/library/busybox", tag: "1.36"},
		{in: "busybox@" + dgst, repo: "docker.io/library/busybox", digest: dgst},
		{in: "busybox:latest@" + dgst, repo: "docker.io/library/busybox", tag: "latest", digest: dgst},
		{in: "myuser/app", repo: "docker.io/myuser/app", tag: "latest"},
		{in: "index.docker.io/myuser/app:v1", repo: "docker.io/myuser/app", tag: "v1"},
		{in: "localhost/app", repo: "localhost/app", tag: "latest"},
		{in: "127.0.0.1:5000/team/app:v2", repo: "127.0.0.1:5000/team/app", tag: "v2"},
		{in: "[::1]:5000/app", repo: "[::1]:5000/app", tag: "latest"},
		// A first component with a dot that is no host name: no domain
		// (found by FuzzParse).
		{in: "0.0_0/0", repo: "0.0_0/0", tag: "latest"},
		{in: "Nginx", wantErr: true},
		{in: "", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if r.Repository() != tc.repo || r.Tag != tc.tag || r.Digest != tc.digest {
				t.Errorf("Parse(%q) = %+v, want repo %q tag %q digest %q", tc.in, r, tc.repo, tc.tag, tc.digest)
			}
		})
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@" + dgst, corev1.PullIfNotPresent},
		{"nginx:1.27@" + dgst, corev1.PullIfNotPresent},
		{"nginx:latest@" + dgst, corev1.PullAlways},
		{"Nginx", corev1.PullIfNotPresent},
		{"", corev1.PullIfNotPresent},
	} {
		if got := DefaultPullPolicy(tc.in); got != tc.want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

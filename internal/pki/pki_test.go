package pki

import (
	"bytes"
	"testing"
)

// TestServingCertCoversNewHosts: a data dir from an earlier start gets a
// serving certificate for names added since (a new pod network gateway),
// signed by the same CA, while an unchanged set keeps the same certificate.
func TestServingCertCoversNewHosts(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, []string{"10.96.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(dir, []string{"10.96.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Serving.Leaf.Raw, again.Serving.Leaf.Raw) {
		t.Errorf("the serving certificate was reissued although it covered every host")
	}
	more, err := Ensure(dir, []string{"10.96.0.1", "10.244.0.1", "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"10.96.0.1", "10.244.0.1", "node-a", "kubernetes.default.svc", "127.0.0.1"} {
		if err := more.Serving.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", h, err)
		}
	}
	if !bytes.Equal(first.CA.Raw, more.CA.Raw) {
		t.Errorf("the CA changed")
	}
	if err := more.Serving.Leaf.CheckSignatureFrom(more.CA); err != nil {
		t.Errorf("reissued certificate not signed by the CA: %v", err)
	}
}

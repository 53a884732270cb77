package serviceaccount

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func namespace(name string, mutate ...func(*corev1.Namespace)) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	for _, m := range mutate {
		m(ns)
	}
	return ns
}

func deleting(ns *corev1.Namespace) {
	now := metav1.Now()
	ns.DeletionTimestamp = &now
	ns.Status.Phase = corev1.NamespaceTerminating
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func creates(client *fake.Clientset) []*corev1.ServiceAccount {
	var out []*corev1.ServiceAccount
	for _, a := range client.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "serviceaccounts" {
			out = append(out, ca.GetObject().(*corev1.ServiceAccount))
		}
	}
	return out
}

// TestSyncNamespace drives one sync against caches filled by hand, so each
// case sees exactly the state it names.
func TestSyncNamespace(t *testing.T) {
	saGR := schema.GroupResource{Resource: "serviceaccounts"}
	tests := []struct {
		name       string
		namespaces []*corev1.Namespace
		accounts   []*corev1.ServiceAccount
		createErr  error
		wantCreate bool
		wantErr    string
	}{
		{name: "missing default is created", namespaces: []*corev1.Namespace{namespace("app")}, wantCreate: true},
		{name: "existing default is left alone", namespaces: []*corev1.Namespace{namespace("app")},
			accounts: []*corev1.ServiceAccount{serviceAccount("app", "default")}},
		{name: "other accounts do not count", namespaces: []*corev1.Namespace{namespace("app")},
			accounts: []*corev1.ServiceAccount{serviceAccount("app", "builder"), serviceAccount("other", "default")}, wantCreate: true},
		{name: "deleting namespace is skipped", namespaces: []*corev1.Namespace{namespace("app", deleting)}},
		{name: "terminating phase alone is skipped", namespaces: []*corev1.Namespace{namespace("app", func(ns *corev1.Namespace) {
			ns.Status.Phase = corev1.NamespaceTerminating
		})}},
		{name: "unknown namespace is ignored"},
		{name: "already exists is success", namespaces: []*corev1.Namespace{namespace("app")}, wantCreate: true,
			createErr: apierrors.NewAlreadyExists(saGR, "default")},
		{name: "namespace started terminating is success", namespaces: []*corev1.Namespace{namespace("app")}, wantCreate: true,
			createErr: func() error {
				err := apierrors.NewForbidden(saGR, "default", errors.New("namespace app is being terminated"))
				err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
				return err
			}()},
		{name: "namespace gone is success", namespaces: []*corev1.Namespace{namespace("app")}, wantCreate: true,
			createErr: apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "app")},
		{name: "transient error is returned for retry", namespaces: []*corev1.Namespace{namespace("app")}, wantCreate: true,
			createErr: apierrors.NewServiceUnavailable("etcd leader changed"), wantErr: "creating serviceaccount app/default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tt.createErr != nil {
				client.PrependReactor("create", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.createErr
				})
			}
			c := New(client, Config{Logger: quiet})
			for _, ns := range tt.namespaces {
				if err := c.factory.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
					t.Fatal(err)
				}
			}
			for _, sa := range tt.accounts {
				if err := c.factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(sa); err != nil {
					t.Fatal(err)
				}
			}
			err := c.syncNamespace(context.Background(), "app")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("sync: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("sync error = %v, want one containing %q", err, tt.wantErr)
			}
			got := creates(client)
			if !tt.wantCreate {
				if len(got) != 0 {
					t.Fatalf("created %d serviceaccounts, want none", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("created %d serviceaccounts, want 1", len(got))
			}
			if sa := got[0]; sa.Name != "default" || sa.Namespace != "app" || len(sa.ImagePullSecrets) != 0 || len(sa.Secrets) != 0 {
				t.Fatalf("created %+v, want a bare app/default", sa)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

func start(t *testing.T, c *Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after ctx ended")
		}
	})
	waitFor(t, "caches to sync", c.HasSynced)
}

func hasDefault(client *fake.Clientset, ns string) func() bool {
	return func() bool {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(namespace("default"), namespace("kube-system"), namespace("gone", deleting),
		serviceAccount("kube-system", "default"))
	c := New(client, Config{Logger: quiet, Workers: 1})
	start(t, c)

	waitFor(t, "default/default", hasDefault(client, "default"))

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("team-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "team-a/default after namespace creation", hasDefault(client, "team-a"))

	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "team-a/default to be recreated after deletion", hasDefault(client, "team-a"))

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("marker"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker/default", hasDefault(client, "marker"))

	// Deleting some other account must not provoke anything.
	if _, err := client.CoreV1().ServiceAccounts("team-a").Create(ctx, serviceAccount("team-a", "builder"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, "builder", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A namespace that starts terminating loses its account for good.
	ns, _ := client.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{})
	deleting(ns)
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Once the controller has seen the namespace terminating, deleting the
	// account must not bring it back. With one worker the queue is FIFO and
	// the informer delivers deletions in order, so marker/default being
	// recreated proves team-a's deletion was handled first.
	waitFor(t, "the cache to see team-a terminating", func() bool {
		ns, err := c.nsLister.Get("team-a")
		return err == nil && ns.DeletionTimestamp != nil
	})
	if err := client.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ServiceAccounts("marker").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker/default to be recreated", hasDefault(client, "marker"))
	if hasDefault(client, "team-a")() {
		t.Error("default serviceaccount recreated in terminating namespace team-a")
	}
	if hasDefault(client, "gone")() {
		t.Error("default serviceaccount created in terminating namespace gone")
	}
	for _, sa := range creates(client) {
		if sa.Namespace == "kube-system" {
			t.Error("created kube-system/default although it existed")
		}
	}
}

// TestRunRetriesTransientErrors checks that a failing API server only delays
// the ServiceAccount: the controller keeps retrying and never exits.
func TestRunRetriesTransientErrors(t *testing.T) {
	client := fake.NewClientset(namespace("app"))
	var failures atomic.Int32
	client.PrependReactor("create", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures.Add(1) <= 3 {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		return false, nil, nil
	})
	start(t, New(client, Config{Logger: quiet}))
	waitFor(t, "app/default after retries", hasDefault(client, "app"))
	if n := failures.Load(); n != 4 {
		t.Errorf("create attempts = %d, want 4", n)
	}
}

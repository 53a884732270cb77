package benchkit

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// requestTimeout bounds every API request but the watches.
const requestTimeout = 60 * time.Second

// RESTConfig reads the admin kubeconfig berth wrote and sets the
// benchmark's client limits: QPS 5000 and Burst 10000 (client-side rate
// limiting must not be what is measured), a one-minute request timeout,
// and userAgent.
func RESTConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", kubeconfig, err)
	}
	rc.QPS, rc.Burst = 5000, 10000
	rc.Timeout = requestTimeout
	rc.UserAgent = userAgent
	return rc, nil
}

// Clients are the client sets a benchmark talks to berth's API with.
type Clients struct {
	API   kubernetes.Interface // requests, with RESTConfig's timeout
	Watch kubernetes.Interface // the same without a client timeout, for long watches
}

// NewClients builds both client sets from the kubeconfig (see RESTConfig).
func NewClients(kubeconfig, userAgent string) (Clients, error) {
	rc, err := RESTConfig(kubeconfig, userAgent)
	if err != nil {
		return Clients{}, err
	}
	var c Clients
	if c.API, err = kubernetes.NewForConfig(rc); err != nil {
		return Clients{}, err
	}
	wc := *rc
	wc.Timeout = 0
	if c.Watch, err = kubernetes.NewForConfig(&wc); err != nil {
		return Clients{}, err
	}
	return c, nil
}

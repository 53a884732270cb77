// Package controllers groups berth's control loops. Each sub-package is one
// controller that, like a Kubernetes controller, talks to the API server only
// through client-go: it watches with shared informers, works through a
// rate-limited workqueue, retries transient API errors with back-off and
// exposes Run(ctx) error, which blocks until ctx ends.
//
//   - serviceaccount: a "default" ServiceAccount in every namespace.
//   - namespace: deletes a terminating namespace's content, then finalizes it.
//   - bootstrap: the system namespaces and the "kubernetes" Service and Endpoints.
//   - binder: the scheduler's job for pods that name no node.
//   - endpoints: Endpoints and EndpointSlices, by kube-controller-manager's
//     own endpoint, endpointslice and mirroring controllers run in-process.
package controllers

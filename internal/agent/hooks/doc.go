// Package hooks runs a container's lifecycle handlers (postStart and
// preStop) the way the kubelet does (pkg/kubelet/lifecycle/handlers.go),
// and keeps a record of each run that people can read (`berth explain
// hooks`): what ran, when, for how long, its exit code or HTTP status, its
// error and the tail of its output.
//
// # Contract
//
// When: the agent decides. It calls Run for PostStart right after CRI
// StartContainer returns (the hook and the entrypoint run concurrently;
// the container is not reported Running until Run returns), and for
// PreStop when it stops a container that is running (API deletion, a
// liveness or startup probe failure, a postStart failure, a spec change,
// sandbox replacement), never for a container that exited by itself and
// never with a grace period of 0.
//
// What cancels it: only ctx. The agent bounds a preStop with the rest of
// the grace period and a postStart with the pod worker's context (the pod
// deleted ends it). Nothing else times a hook out: an exec hook that never
// returns holds Run until ctx ends, as in the kubelet.
//
// What it may not do: Run never stops, kills or restarts the container,
// and never sends events; it returns a Result and the agent acts on it
// (FailedPostStartHook, FailedPreStopHook, LifecycleHTTPFallback,
// killing). When ctx ends, Run returns at once; a process an exec hook
// started keeps running in the container (the kubelet does not kill it
// either) until the container stops. Hook output is kept only in the
// record (its tail, at most 4 KiB): it never reaches the container's log.
//
// Handlers:
//   - exec: CRI ExecSync in the container with no timeout; success is exit
//     code 0. The command is run as written (no $(VAR) expansion, as the
//     kubelet); a shell in the command sees the container's environment.
//   - httpGet: one GET (host defaults to the pod IP, port by number or by
//     the name of one of this container's ports, path with its query,
//     scheme, httpHeaders in order, User-Agent kube-lifecycle/<major>.<minor>,
//     Accept */*), TLS without certificate checks, redirects followed to
//     the same host only. Any completed round trip succeeds, whatever the
//     status code; at most 10 KiB of the body is read. An HTTPS request
//     answered in plain HTTP is retried once over HTTP without the
//     Authorization header (Result.FallbackHost says so).
//   - sleep: waits the seconds (0 returns at once); ctx ending first is a
//     failure ("container terminated before sleep hook finished").
//   - tcpSocket, or nothing: fails ("invalid handler: ...").
//
// Failure messages (Result.Err) are the kubelet's, word for word; values
// listed in Request.Redact (secrets the agent resolved into the
// container's environment) are masked in every message, summary and
// record.
//
// Records: the last 10 runs per container, as JSON in
// Config.Dir/<pod UID>/<container>.json, replaced atomically; Load reads
// them and Forget removes a deleted pod's. Runs are safe to call
// concurrently.
package hooks

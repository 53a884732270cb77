// Package envvars builds a container's environment exactly as the kubelet
// does (makeEnvironmentVariables): service links, then envFrom, then env
// with $(VAR) expansion, the downward API (fieldRef, resourceFieldRef) and
// fileKeyRef. It is the one builder for the container's env, for the
// expansion of command and args and for subPathExpr, and it keeps each
// variable's origin for `berth explain env`. It does no I/O of its own but
// reading env files: ConfigMaps and Secrets come through Sources.
package envvars

#!/usr/bin/env bash
# Installs the Go tools `make test` needs into the project-local bin/tools
# (not on apt): golangci-lint, built from the Go module proxy; and kubectl
# when none is on PATH, built from k8s.io/kubernetes at the version berth
# implements. Idempotent: a tool already at its version is kept.
#
#   scripts/install-tools.sh            both
#   scripts/install-tools.sh lint       golangci-lint only
#   scripts/install-tools.sh kubectl    kubectl only
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
TOOLS="$PWD/bin/tools"
# v2.15.0 is built with and supports Go 1.26.
GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
KUBECTL_VERSION="${KUBECTL_VERSION:-v1.37.2}"
mkdir -p "$TOOLS"

install_lint() {
  local bin="$TOOLS/golangci-lint"
  if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
    return
  fi
  echo "install-tools: building golangci-lint $GOLANGCI_LINT_VERSION into $TOOLS (a few minutes, once)" >&2
  GOBIN="$TOOLS" "$GO" install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
}

install_kubectl() {
  if command -v kubectl >/dev/null 2>&1; then
    return
  fi
  local bin="$TOOLS/kubectl"
  if [ -x "$bin" ] && "$bin" version --client 2>/dev/null | grep -q "$KUBECTL_VERSION"; then
    return
  fi
  # k8s.io/kubernetes replaces its staging modules with local paths, so
  # `go install k8s.io/kubernetes/cmd/kubectl@v` is refused: build it in a
  # scratch module that replaces them with their published versions, as
  # berth's own go.mod does.
  echo "install-tools: building kubectl $KUBECTL_VERSION into $TOOLS (a few minutes, once)" >&2
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  {
    echo "module berth.local/kubectl-build"
    echo
    echo "go $("$GO" env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
    echo
    sed -n '/^replace (/,/^)/p' go.mod | grep -E '^\s*k8s\.io/' | sed -E 's/^\s*/replace /'
  } >"$tmp/go.mod"
  (
    cd "$tmp"
    "$GO" get "k8s.io/kubernetes/cmd/kubectl@$KUBECTL_VERSION" >/dev/null
    "$GO" build -trimpath -o "$bin" \
      -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBECTL_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBECTL_VERSION" \
      k8s.io/kubernetes/cmd/kubectl
  )
}

case "${1:-all}" in
  lint) install_lint ;;
  kubectl) install_kubectl ;;
  all) install_lint; install_kubectl ;;
  *) echo "usage: $0 [lint|kubectl|all]" >&2; exit 2 ;;
esac

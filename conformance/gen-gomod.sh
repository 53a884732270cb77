#!/usr/bin/env bash
# Regenerates go.mod for another Kubernetes version: requires
# k8s.io/kubernetes at that version and, for every `./staging/...` replace
# in its own go.mod, replaces that staging module by its published
# v0.MINOR.PATCH, so every other requirement resolves to the version
# Kubernetes itself pins. Usage: conformance/gen-gomod.sh v1.37.2
set -euo pipefail
v=${1:?usage: $0 v1.MINOR.PATCH}
staging=v0.${v#v1.}
cd "$(dirname "$0")"
dir=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -f "$dir/go.mod" ] || { echo "gen-gomod: no go.mod for k8s.io/kubernetes@$v" >&2; exit 1; }
{
	echo "// Module conformance builds Kubernetes' own e2e suite (the version berth"
	echo "// emulates) in a module of its own, so the main module's dependencies do"
	echo "// not change. Regenerate with ./gen-gomod.sh VERSION."
	echo "module github.com/berth-dev/berth/conformance"
	echo
	echo "go $(go env GOVERSION | sed 's/^go//')"
	echo
	echo "require k8s.io/kubernetes $v"
	echo
	echo "// Test programs built from source for the test images."
	echo "tool ("
	echo "	k8s.io/kubernetes/test/images/agnhost"
	echo "	k8s.io/kubernetes/test/images/nonewprivs"
	echo ")"
	echo
	echo "replace ("
	awk -v s="$staging" '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&/=> \.\/staging/{print "\t"$1" => "$1" "s}' "$dir/go.mod"
	echo ")"
} >go.mod
rm -f go.sum
go mod tidy

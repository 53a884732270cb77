#!/usr/bin/env bash
# make conformance: runs the node areas of Kubernetes' own e2e suite (the
# version berth emulates) against a fresh berth server on this machine, and
# writes docs/CONFORMANCE.md. Everything is built here, offline: the suite
# and agnhost from the Go module proxy, the other test images from Debian's
# static busybox and bash and berth's own pause program. See
# docs/CONFORMANCE.md for what each step does and how long it takes.
#
# Environment:
#   FOCUS     Ginkgo focus regexp (default: the node areas, see below), e.g.
#             FOCUS='Container Lifecycle Hook' make conformance
#   SKIP      Ginkgo skip regexp (default: Serial, Disruptive, Slow, Flaky,
#             Feature: and Alpha tests)
#   NICE      prefix for the heavy commands (default: nice -n 19)
#   KEEP=1    keep the run's directory (registry, berth data dir, logs)
#   BERTH     berth binary to test (default: bin/berth, built from this tree)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bin/conformance
VERSION=v1.37.2
AREAS='Container Lifecycle Hook|Downward API|Variable Expansion|Pods|Secrets|ConfigMap|Container Runtime|ServiceAccounts|InitContainer|Probing container|Kubelet|Ephemeral Containers|Security Context|Sysctls'
DEFAULT_FOCUS="\\[sig-[a-z-]+\\] ($AREAS)( |$)"
DEFAULT_SKIP='\[Serial\]|\[Disruptive\]|\[Slow\]|\[Flaky\]|\[Feature:|\[Alpha\]'
FOCUS=${FOCUS:-$DEFAULT_FOCUS}
SKIP=${SKIP:-$DEFAULT_SKIP}
NICE=${NICE:-nice -n 19}
GO=${GO:-go}

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "berth's node agent runs containers: run as root"
"$ROOT/scripts/install-deps.sh"
if [ ! -x /bin/bash-static ]; then
	log "installing bash-static (the agnhost image's bash)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bash-static >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bash-static >/dev/null; }
fi
mkdir -p "$OUT"

# 1. The suite, rebuilt only when its module or test main changes.
cd "$ROOT/conformance"
key=$(cat go.mod go.sum e2e/e2e_test.go | sha256sum | cut -d' ' -f1)
suite_build=cached
if [ ! -x "$OUT/e2e.test" ] || [ "$(cat "$OUT/e2e.test.key" 2>/dev/null)" != "$key" ]; then
	log "building the e2e suite $VERSION (takes long on 2 cores; cached afterwards)"
	t0=$(date +%s)
	$NICE $GO test -c -o "$OUT/e2e.test.new" ./e2e
	mv "$OUT/e2e.test.new" "$OUT/e2e.test"
	echo "$key" >"$OUT/e2e.test.key"
	suite_build="$(($(date +%s) - t0))s"
	log "suite built in $suite_build"
fi

# 2. The test images' programs, and the tools of this script. Go's build
# cache makes these quick when nothing changed.
t0=$(date +%s)
CGO_ENABLED=0 $NICE $GO build -o "$OUT/agnhost" k8s.io/kubernetes/test/images/agnhost
CGO_ENABLED=0 $NICE $GO build -o "$OUT/nnp" k8s.io/kubernetes/test/images/nonewprivs
CGO_ENABLED=0 $NICE $GO build -o "$OUT/curl" ./curl
$NICE $GO build -o "$OUT/report" ./report
porter=$($GO list -f '{{.Dir}}' k8s.io/kubernetes/test/images/agnhost/porter)
cd "$ROOT"
$NICE $GO build -o "$OUT/conformance-images" ./scripts/conformance-images
if [ -z "${BERTH:-}" ]; then
	$NICE $GO build -o bin/berth ./cmd/berth
	BERTH=$ROOT/bin/berth
fi

# 3. A registry on loopback, and the images pushed to it.
WORK=$(mktemp -d /tmp/berth-conformance.XXXXXX)
registry_pid='' berth_pid='' gateway=''
cleanup() {
	set +e
	if [ -n "$berth_pid" ] && kill -0 "$berth_pid" 2>/dev/null; then
		# Remove every pod first, so the agent tears down their containers
		# and volume mounts before berth stops.
		kubectl --kubeconfig "$WORK/data/kubeconfig" delete pods --all --all-namespaces \
			--grace-period=0 --force --wait=true --timeout=60s >/dev/null 2>&1
		for _ in $(seq 1 150); do
			[ -z "$(ctr --address "$WORK/data/containerd/containerd.sock" -n k8s.io containers ls -q 2>/dev/null)" ] && break
			sleep 0.2
		done
		kill -TERM "$berth_pid"
		for _ in $(seq 1 300); do kill -0 "$berth_pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$berth_pid" 2>/dev/null && kill -KILL "$berth_pid"
	fi
	if [ -n "$registry_pid" ]; then kill -TERM "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null; fi
	# The pod network's bridge (the one holding this run's gateway).
	if [ -n "$gateway" ]; then
		ip -o -4 addr show | awk -v gw="$gateway/" 'index($4, gw) == 1 && $2 ~ /^berth-/ {print $2}' |
			while read -r br; do ip link delete "$br"; done
	fi
	# Mounts a pod left behind (deepest first), so the directory can go.
	awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	mkdir -p "$OUT/last-run"
	cp -f "$WORK"/e2e.log "$WORK"/report.json "$WORK"/berth.log "$OUT/last-run/" 2>/dev/null
	if [ "${KEEP:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for _ in $(seq 1 20); do
	port=$((20000 + RANDOM % 20000))
	ss -Hltn "sport = :$port" | grep -q . || break
done
REGISTRY=127.0.0.1:$port
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: $WORK/registry}
http:
  addr: $REGISTRY
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$registry_pid" 2>/dev/null || die "docker-registry exited: $(cat "$WORK/registry.log")"
	sleep 0.1
done
CGO_ENABLED=0 "$OUT/conformance-images" -registry "$REGISTRY" -repo-list "$WORK/repo-list.yaml" \
	-agnhost "$OUT/agnhost" -nnp "$OUT/nnp" -curl "$OUT/curl" -porter-dir "$porter"
images_build="$(($(date +%s) - t0))s"
log "images built and pushed in $images_build"

# 4. A fresh berth server with its own data dir, pod network and Service
# range (a Service range another server on this machine shares would
# route this run's ClusterIPs, DNS among them, to that server). Its
# kubelet endpoint is on the kubelet's port, 10250, when that is free: the
# suite reaches the kubelet's /pods as nodes/NODE:10250/proxy/pods.
n=$((RANDOM % 250))
gateway=10.202.$n.1
kubelet_port=0
ss -Hltn "sport = :10250" | grep -q . || kubelet_port=10250
"$BERTH" server --data-dir "$WORK/data" --listen 127.0.0.1:0 --cluster-cidr "10.202.$n.0/24" \
	--service-cidr "10.203.$n.0/24" --kubelet-port "$kubelet_port" >"$WORK/berth.log" 2>&1 &
berth_pid=$!
for _ in $(seq 1 600); do
	[ -s "$WORK/data/kubeconfig" ] && break
	kill -0 "$berth_pid" 2>/dev/null || die "berth server exited: $(tail -20 "$WORK/berth.log")"
	sleep 0.1
done
[ -s "$WORK/data/kubeconfig" ] || die "berth server wrote no kubeconfig within 60s: $(tail -20 "$WORK/berth.log")"
export KUBECONFIG=$WORK/data/kubeconfig
for _ in $(seq 1 120); do
	kubectl get nodes -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
	sleep 1
done

# 5. The suite.
log "running the suite (log: $WORK/e2e.log) focus=$FOCUS"
t0=$(date +%s)
set +e
KUBE_TEST_REPO_LIST=$WORK/repo-list.yaml $NICE "$OUT/e2e.test" \
	--provider=skeleton --disable-log-dump --kubeconfig "$KUBECONFIG" \
	--ginkgo.focus="$FOCUS" --ginkgo.skip="$SKIP" \
	--ginkgo.json-report="$WORK/report.json" --ginkgo.no-color --ginkgo.timeout=4h \
	--report-dir="$WORK/junit" >"$WORK/e2e.log" 2>&1
rc=$?
set -e
log "suite finished in $(($(date +%s) - t0))s (exit $rc)"
[ -s "$WORK/report.json" ] || die "the suite wrote no report: $(tail -30 "$WORK/e2e.log")"

# 6. docs/CONFORMANCE.md.
partial=false
mkdir -p "$ROOT/docs"
[ "$FOCUS" = "$DEFAULT_FOCUS" ] || partial=true
"$OUT/report" -report "$WORK/report.json" -environment "$ROOT/conformance/environment.txt" \
	-intro "$ROOT/conformance/intro.md" -out "$ROOT/docs/CONFORMANCE.md" \
	-focus "$FOCUS" -skip "$SKIP" -partial="$partial" -version "$VERSION" \
	-suite-build "$suite_build" -images-build "$images_build"
log "wrote docs/CONFORMANCE.md (logs of this run: $OUT/last-run/)"

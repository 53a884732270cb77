#!/usr/bin/env bash
# A hand test, not part of `make test`: runs `berth agent` as a node of a real
# kube-apiserver, the way a kubeadm control plane runs one (Node,RBAC
# authorization, NodeRestriction, a kubelet client certificate
# CN=system:node:NAME O=system:nodes, the API server's own kubelet client
# certificate checked by the node and authorized by SubjectAccessReview, the
# node's serving certificate checked with --kubelet-certificate-authority),
# then drives it with the real kubectl: a pod runs, logs, exec, attach and
# port-forward work, and the node's identity is refused what the Node
# authorizer and NodeRestriction refuse. docs/agent-on-kubernetes.md says what
# was run and what came out.
#
# Needs root (the agent runs containers), kubectl, openssl, ctr, curl, etcd and
# a kube-apiserver binary (v1.35 or later; build one from the module proxy with
# `cd conformance && go build -o ../bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver`).
#
# Environment:
#   KUBE_APISERVER  kube-apiserver binary (default: bin/kube-apiserver)
#   ETCD            etcd binary (default: etcd on PATH; Debian's 3.4 works)
#   BERTH           berth binary (default: bin/berth, built from this tree)
#   NODE            node name (default: berth-kapi-node)
#   NODE_IP         the node's address (default: the one berth agent picks)
#   KEEP=1          keep the work directory (certificates, logs)
#   HOLD=1          after the checks, keep everything running until SIGINT or
#                   SIGTERM (kubeconfigs in the work directory), to look around
#
# Everything it starts is stopped on exit by its own PIDs, the agent's pods,
# containerd, bridge and Service rules are removed with `berth reset`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBE_APISERVER=${KUBE_APISERVER:-$ROOT/bin/kube-apiserver}
ETCD=${ETCD:-$(command -v etcd || true)}
NODE=${NODE:-berth-kapi-node}
OTHER=other-node

log() { printf 'agent-on-kube-apiserver: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "berth agent runs containers: run as root"
for tool in kubectl openssl ctr curl; do command -v "$tool" >/dev/null || die "$tool is not on PATH"; done
[ -x "$KUBE_APISERVER" ] || die "no kube-apiserver at $KUBE_APISERVER (set KUBE_APISERVER)"
[ -n "$ETCD" ] && [ -x "$ETCD" ] || die "no etcd (set ETCD)"
if [ -z "${BERTH:-}" ]; then
	log "building bin/berth"
	(cd "$ROOT" && go build -o bin/berth ./cmd/berth)
	BERTH=$ROOT/bin/berth
fi
if [ -z "${NODE_IP:-}" ]; then
	# berth agent's choice: the first IPv4 address of an interface that is
	# up, not loopback and not a pod bridge or veth.
	NODE_IP=$(ip -4 -o addr show up | awk '$2 != "lo" && $2 !~ /^(berth|cni|veth|docker)/ {split($4, a, "/"); print a[1]; exit}')
fi
[ -n "$NODE_IP" ] || die "cannot find this machine's address: set NODE_IP"

WORK=$(mktemp -d /tmp/berth-kapi.XXXXXX)
PKI=$WORK/pki
mkdir -p "$PKI"
etcd_pid='' apiserver_pid='' agent_pid='' pf_pid=''
passed=0 failed=0

stop_pid() { # stop_pid PID: SIGTERM, wait up to 20 s, then SIGKILL
	local pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	set +e
	stop_pid "$pf_pid"
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		# Delete the pods first, so the agent stops their containers (the
		# other node's pod has no agent to confirm: force it).
		admin delete pod elsewhere -n demo --grace-period=0 --force >/dev/null 2>&1
		admin delete pods --all -n demo --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1
	fi
	stop_pid "$agent_pid"
	# containerd, shims, pods, the bridge, the Service table, mounts, the data dir.
	[ -d "$WORK/agent" ] && "$BERTH" reset --data-dir "$WORK/agent" >"$WORK/reset.log" 2>&1
	stop_pid "$apiserver_pid"
	stop_pid "$etcd_pid"
	if [ "${KEEP:-}" = 1 ] || [ "$failed" -gt 0 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs

free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 20000))
		ss -Hltn "sport = :$port" | grep -q . || { echo "$port"; return; }
	done
	die "no free port"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local secs=$1 what=$2
	shift 2
	for _ in $(seq 1 $((secs * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what did not happen within ${secs}s"
}

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }

# 1. Certificates, as kubeadm lays them out (ECDSA P-256, one CA).
log "certificates in $PKI"
cd "$PKI"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; chmod 600 "$1.key"; }
issue() { # issue NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
	key "$1"
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$3"
		[ -n "${4:-}" ] && echo "subjectAltName=$4"
	} >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
key ca
openssl req -x509 -new -key ca.key -subj "/CN=kubernetes" -days 3650 -out ca.crt \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
N=$((RANDOM % 200 + 20))
SERVICE_CIDR=10.210.$N.0/24 # unique: the agent's Service rules must not touch other clusters' ClusterIPs
CLUSTER_CIDR=10.211.$N.0/24
issue apiserver "/CN=kube-apiserver" serverAuth \
	"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:10.210.$N.1"
issue apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
issue admin "/O=system:masters/CN=kubernetes-admin" clientAuth
issue node "/O=system:nodes/CN=system:node:$NODE" clientAuth
issue kubelet "/CN=$NODE" serverAuth "DNS:$NODE,IP:$NODE_IP"
key sa
openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
cd "$ROOT"

# 2. etcd on loopback.
ETCD_PORT=$(free_port)
PEER_PORT=$(free_port)
log "etcd $("$ETCD" --version | head -1) on 127.0.0.1:$ETCD_PORT"
"$ETCD" --name default --data-dir "$WORK/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
	--initial-cluster "default=http://127.0.0.1:$PEER_PORT" >"$WORK/etcd.log" 2>&1 &
etcd_pid=$!
wait_for 30 "etcd health" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# 3. kube-apiserver, flags as kubeadm sets them.
API_PORT=$(free_port)
log "$("$KUBE_APISERVER" --version) on $NODE_IP:$API_PORT"
"$KUBE_APISERVER" \
	--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
	--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
	--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
	--client-ca-file "$PKI/ca.crt" \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority "$PKI/ca.crt" \
	--kubelet-preferred-address-types InternalIP,ExternalIP,Hostname \
	--allow-privileged=true >"$WORK/kube-apiserver.log" 2>&1 &
apiserver_pid=$!

kubeconfig() { # kubeconfig NAME: a kubeconfig for PKI/NAME.crt
	local f=$WORK/$1.kubeconfig
	KUBECONFIG=$f kubectl config set-cluster k --server "https://$NODE_IP:$API_PORT" --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
	KUBECONFIG=$f kubectl config set-credentials u --client-certificate "$PKI/$1.crt" --client-key "$PKI/$1.key" --embed-certs >/dev/null
	KUBECONFIG=$f kubectl config set-context c --cluster k --user u >/dev/null
	KUBECONFIG=$f kubectl config use-context c >/dev/null
	chmod 600 "$f"
}
kubeconfig admin
kubeconfig node
admin() { kubectl --kubeconfig "$WORK/admin.kubeconfig" "$@"; }
as_node() { kubectl --kubeconfig "$WORK/node.kubeconfig" "$@"; }
wait_for 90 "kube-apiserver /readyz" admin get --raw /readyz

# The API server's kubelet client may use the kubelet API (kubeadm binds
# the same role to its kube-apiserver-kubelet-client user).
admin create clusterrolebinding kube-apiserver-kubelet-api-admin --clusterrole system:kubelet-api-admin \
	--user kube-apiserver-kubelet-client >/dev/null
# berth agent runs the Service proxy (kube-proxy's job) with the node's
# identity, so the node needs kube-proxy's role too.
admin create clusterrolebinding berth-node-proxier --clusterrole system:node-proxier --group system:nodes >/dev/null
# What kube-controller-manager would do (none runs here): the default
# ServiceAccount and the kube-root-ca.crt ConfigMap of the namespace.
admin create namespace demo >/dev/null
admin -n demo create serviceaccount default >/dev/null
admin -n demo create configmap kube-root-ca.crt --from-file ca.crt="$PKI/ca.crt" >/dev/null
admin -n demo create secret generic used --from-literal k=v >/dev/null
admin -n demo create secret generic unrelated --from-literal k=v >/dev/null
admin -n demo create secret generic others --from-literal k=v >/dev/null
# Another node's object (no agent behind it).
echo "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"$OTHER\"}}" | admin create -f - >/dev/null

# 4. berth agent with the node's kubelet client certificate.
KUBELET_PORT=$(free_port)
log "berth agent $NODE (kubelet endpoint $NODE_IP:$KUBELET_PORT, pods $CLUSTER_CIDR)"
"$BERTH" agent --kubeconfig "$WORK/node.kubeconfig" --data-dir "$WORK/agent" --node-name "$NODE" \
	--cluster-cidr "$CLUSTER_CIDR" --port "$KUBELET_PORT" \
	--tls-cert-file "$PKI/kubelet.crt" --tls-private-key-file "$PKI/kubelet.key" --client-ca-file "$PKI/ca.crt" \
	--log-level debug >"$WORK/agent.log" 2>&1 & # debug: client-go logs refusals there
agent_pid=$!
node_ready() { [ "$(admin get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 120 "node $NODE Ready" node_ready
pass "node $NODE registered and Ready"
port=$(admin get node "$NODE" -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
[ "$port" = "$KUBELET_PORT" ] && pass "daemonEndpoints.kubeletEndpoint.Port is $port" || fail "daemonEndpoints.kubeletEndpoint.Port is '$port', want $KUBELET_PORT"

# 5. An image from Debian's static busybox, imported into the agent's
# containerd (no registry, no internet): an OCI layout built by hand.
img=$WORK/image
mkdir -p "$img/rootfs/bin" "$img/layout/blobs/sha256"
cp /bin/busybox "$img/rootfs/bin/busybox"
for a in sh cat echo sleep httpd mkdir; do ln -s busybox "$img/rootfs/bin/$a"; done
tar --owner 0 --group 0 --numeric-owner --mtime @0 -C "$img/rootfs" -cf "$img/layer.tar" .
blob() { # blob FILE: store FILE as a blob, print its digest and size
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$img/layout/blobs/sha256/$d"
	echo "sha256:$d $(stat -c %s "$1")"
}
read -r layer_digest layer_size < <(blob "$img/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$layer_digest" >"$img/config.json"
read -r config_digest config_size < <(blob "$img/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
	"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$img/manifest.json"
read -r manifest_digest manifest_size < <(blob "$img/manifest.json")
IMAGE=docker.io/library/busybox:berth-kapi
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"berth-kapi"}}]}' \
	"$manifest_digest" "$manifest_size" "$IMAGE" >"$img/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$img/layout/oci-layout"
tar -C "$img/layout" -cf "$img/image.tar" .
ctr --address "$WORK/agent/containerd/containerd.sock" -n k8s.io images import "$img/image.tar" >/dev/null
pass "image $IMAGE imported into the agent's containerd"

# 6. A pod bound to the node (no scheduler runs here), and one bound to
# another node, whose secret this node must not read.
admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: demo}
spec:
  nodeName: $NODE
  dnsPolicy: Default
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: $IMAGE
    imagePullPolicy: Never
    command: [sh, -c, 'echo hello-from-berth; mkdir -p /www; echo port-forward-ok > /www/index.html; exec httpd -f -p 8080 -h /www']
    env: [{name: K, valueFrom: {secretKeyRef: {name: used, key: k}}}]
  - name: cat
    image: $IMAGE
    imagePullPolicy: Never
    command: [cat]
    stdin: true
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: demo}
spec:
  nodeName: $OTHER
  containers:
  - name: c
    image: $IMAGE
    env: [{name: K, valueFrom: {secretKeyRef: {name: others, key: k}}}]
EOF
pod_running() { [ "$(admin -n demo get pod web -o jsonpath='{.status.phase}')" = Running ]; }
if (wait_for 90 "pod web Running" pod_running); then pass "pod web Running on $NODE"; else
	fail "pod web not Running: $(admin -n demo get pod web -o jsonpath='{.status}')"
fi

# 7. The kubelet API through the real API server.
out=$(admin -n demo logs web -c web 2>&1) && [[ $out == *hello-from-berth* ]] && pass "kubectl logs" || fail "kubectl logs: $out"
out=$(admin -n demo exec web -c web -- sh -c 'echo exec-ok $K' 2>&1) && [ "$out" = "exec-ok v" ] && pass "kubectl exec" || fail "kubectl exec: $out"
# The projected service-account token the agent wrote (TokenRequest made
# with the node's identity) is one the API server accepts.
token=$(admin -n demo exec web -c web -- cat /var/run/secrets/kubernetes.io/serviceaccount/token 2>/dev/null || true)
out=$(kubectl --server "https://$NODE_IP:$API_PORT" --certificate-authority "$PKI/ca.crt" --token "$token" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1 || true)
[ "$out" = system:serviceaccount:demo:default ] && pass "the pod's projected token authenticates as $out" || fail "the pod's projected token: '$out'"
# kubectl attach ends when its stdin does: keep it open until cat answered.
out=$( (echo attach-ok; sleep 3) | timeout 15 kubectl --kubeconfig "$WORK/admin.kubeconfig" -n demo attach -i web -c cat 2>/dev/null || true)
[[ $out == *attach-ok* ]] && pass "kubectl attach -i" || fail "kubectl attach -i: '$out'"
PF_PORT=$(free_port)
kubectl --kubeconfig "$WORK/admin.kubeconfig" -n demo port-forward pod/web "$PF_PORT:8080" >"$WORK/port-forward.log" 2>&1 &
pf_pid=$!
out=''
for _ in $(seq 1 50); do out=$(curl -fsS "http://127.0.0.1:$PF_PORT/" 2>/dev/null) && break; sleep 0.2; done
[ "$out" = port-forward-ok ] && pass "kubectl port-forward" || fail "kubectl port-forward: '$out' $(cat "$WORK/port-forward.log")"
stop_pid "$pf_pid"
pf_pid=''

# 8. What the node's identity may and may not do (Node authorizer, NodeRestriction).
expect_forbidden() { # expect_forbidden DESCRIPTION KUBECTL_ARGS...
	local what=$1 out
	shift
	if out=$(as_node "$@" 2>&1); then fail "node identity could $what"; elif [[ $out == *[Ff]orbidden* ]]; then
		pass "node identity refused: $what"
	else fail "node identity: $what: $out"; fi
}
out=$(as_node -n demo get secret used -o name 2>&1) && pass "node identity reads the secret its pod uses" || fail "node identity cannot read its pod's secret: $out"
expect_forbidden "read an unrelated Secret" -n demo get secret unrelated
expect_forbidden "read the Secret of another node's pod" -n demo get secret others
expect_forbidden "list Secrets" -n demo get secrets
expect_forbidden "label another Node" label node "$OTHER" x=y
expect_forbidden "delete another node's pod" -n demo delete pod elsewhere --wait=false
expect_forbidden "update another node's pod status" -n demo patch pod elsewhere --subresource status --type merge -p '{"status":{"phase":"Failed"}}'
expect_forbidden "create a pod bound to another node" -n demo run intruder --image "$IMAGE" --overrides "{\"spec\":{\"nodeName\":\"$OTHER\"}}"
out=$(admin auth can-i get nodes --subresource proxy --as "system:node:$NODE" --as-group system:nodes 2>/dev/null || true)
[ "$out" = no ] && pass "node identity may not use nodes/proxy" || fail "node identity may use nodes/proxy: $out"

# Everything the agent itself asked for was within what the node may do.
refused=$(grep -ci forbidden "$WORK/agent.log" || true)
[ "$refused" = 0 ] && pass "the agent was refused nothing (agent.log)" ||
	fail "the agent was refused $refused times: $(grep -i forbidden "$WORK/agent.log" | head -3)"

if [ "${HOLD:-}" = 1 ]; then
	log "holding (pid $$): kubectl --kubeconfig $WORK/admin.kubeconfig ...; stop with kill -TERM $$"
	while :; do sleep 1; done
fi
log "passed $passed, failed $failed; logs in $WORK (kept on failure or with KEEP=1)"
[ "$failed" -eq 0 ]

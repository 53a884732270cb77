#!/bin/sh
# Runs every Go fuzz target for FUZZTIME each (default 5s; `make fuzz
# FUZZTIME=5m` for a longer search). go test -fuzz takes one target at a
# time, hence the list. A failure leaves its input under the package's
# testdata/fuzz/<Target>/: commit it with the fix, it then runs as a seed
# in every `go test`.
set -eu
FUZZTIME="${FUZZTIME:-5s}"
GO="${GO:-go}"
cd "$(dirname "$0")/.."
targets="
./internal/imageref FuzzParse
./internal/keyring FuzzDockerConfig
./internal/agent/expansion FuzzExpand
./internal/apiserver FuzzPatch
./internal/apiserver FuzzSelectors
./internal/apiserver FuzzDecode
"
echo "$targets" | while read -r pkg target; do
	[ -n "$pkg" ] || continue
	echo "fuzz: $pkg $target for $FUZZTIME"
	nice -n 5 "$GO" test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME"
done

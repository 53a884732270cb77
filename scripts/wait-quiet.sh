#!/usr/bin/env bash
# wait-quiet.sh SECONDS: wait until the 1-minute load average is below the
# number of cores, at most SECONDS. make bench runs it before each benchmark:
# the previous benchmark's own load decays slowly (a one-minute average), and
# each benchmark refuses a busy machine. If the machine stays busy, the
# benchmark says so itself.
set -euo pipefail
limit=${1:-180}
cores=$(nproc)
for ((i = 0; i < limit; i += 5)); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l < c) }'; then
		exit 0
	fi
	[ "$i" = 0 ] && echo "waiting for the load ($load) to fall below $cores cores before the next benchmark"
	sleep 5
done
exit 0

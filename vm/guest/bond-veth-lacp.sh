#!/bin/bash
# Real 802.3ad between two bonds: namespaces a and b joined by two veth pairs.
# Success: both slaves of each bond in one aggregator, partner MAC known, and
# every actor and partner port state 63 (active, fast, aggregatable, in sync,
# collecting, distributing). Runs inside the VM (vm/run), never on a host.
set -euo pipefail
[[ ${IFAGG_VM:-} == 1 ]] || { echo "runs only inside the test VM: vm/run $0" >&2; exit 2; }

RESULTS=${IFAGG_VM_RESULTS:-/tmp}
WAIT_STEPS=150          # x 0.1 s
NAMESPACES="a b"

cleanup() {
    for ns in $NAMESPACES; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

modprobe -a bonding veth
for ns in $NAMESPACES; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add bond0 type bond mode 802.3ad lacp_rate fast miimon 100
done
for i in 1 2; do
    ip link add "a$i" netns a type veth peer name "b$i" netns b
    for ns in $NAMESPACES; do ip -n "$ns" link set "$ns$i" master bond0; done
done
for ns in $NAMESPACES; do ip -n "$ns" link set bond0 up; done

bonding() { ip netns exec "$1" cat /proc/net/bonding/bond0; }

# One aggregator for all slaves, a non-zero partner, and four "port state: 63"
# lines (actor and partner of two slaves).
lacp_settled() {
    awk '
        /^Slave Interface:/        { slaves++ }
        slaves && /Aggregator ID:/ { aggs[$NF] = 1 }
        /Partner Mac Address:/ && $NF != "00:00:00:00:00:00" { partner = 1 }
        /port state: 63$/          { settled++ }
        END { n = 0; for (a in aggs) n++; exit !(slaves == 2 && n == 1 && partner && settled == 4) }'
}

started=$(date +%s.%N)
for ((step = 0; step < WAIT_STEPS; step++)); do
    if bonding a | lacp_settled && bonding b | lacp_settled; then
        break
    fi
    sleep 0.1
done
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

for ns in $NAMESPACES; do
    bonding "$ns" > "$RESULTS/proc-net-bonding-$ns.txt"
    echo "=== /proc/net/bonding/bond0 in namespace $ns"
    cat "$RESULTS/proc-net-bonding-$ns.txt"
done

if ((step == WAIT_STEPS)); then
    echo "FAIL: LACP did not settle within $((WAIT_STEPS / 10)) s"
    exit 1
fi
echo "OK: LACP settled after $elapsed s"
echo "=== ifagg doctor in namespace a (expects no problems)"
ip netns exec a python3 -m ifupdown_agg doctor bond0

#!/bin/sh
# tcp_recovery=0 (RACK off, dupthresh adapts) against the default, alternating, 2 rounds
cd /tmp/rx
for round in 1 2; do
  for mode in default norack; do
    extra=""; [ $mode = norack ] && extra="--sysctl net.ipv4.tcp_recovery=0"
    echo "### round $round $mode"
    timeout 600 /usr/bin/python3 bench/datapath.py --cell 2x500/serialised --cell 2x300/whole --competitor overlay-bpf --competitor mptcp --reps 1 --out /tmp/rx/out-$mode-$round $extra 2>&1 | grep -E "==|rep "
  done
done

#!/bin/sh
# agg-reordering at 2x500 serialised, interleaved; 3 rounds x (none, 10, 30, 127) + mptcp once per round
cd /tmp/b0   # git archive 4776166, tools/build-bpf there
for round in 1 2 3; do
  for r in none 10 30 127; do
    echo "=== round $round reordering $r $(date -u +%H:%M:%S)"
    timeout 300 /usr/bin/python3 bench/datapath.py --cell 2x500/serialised --competitor overlay-bpf --reps 1 --out /tmp/reo/out-$r-$round --overlay-option "agg-reordering $r" 2>&1 | grep -E "^\s*(overlay|mptcp)|retr" 
  done
  echo "=== round $round mptcp $(date -u +%H:%M:%S)"
  timeout 300 /usr/bin/python3 bench/datapath.py --cell 2x500/serialised --competitor mptcp --reps 1 --out /tmp/reo/out-mptcp-$round 2>&1 | grep -E "retr"
done
echo DONE

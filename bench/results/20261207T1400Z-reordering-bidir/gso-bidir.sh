#!/bin/sh
# one flow and bidir at 2x300 against agg-gso-max-segs (auto = 1 here), interleaved, 2 rounds
cd /tmp/b1   # git archive 67adaa4, tools/build-bpf there
for round in 1 2; do
  for g in auto 2 4 16; do
    echo "=== round $round gso $g $(date -u +%H:%M:%S)"
    timeout 300 /usr/bin/python3 bench/datapath.py --cell 2x300/whole --cell 2x300/serialised --competitor overlay-bpf --reps 1 --out /tmp/gso/out-$g-$round --overlay-option "agg-gso-max-segs $g" 2>&1 | grep -E "retr"
  done
  echo "=== round $round mptcp $(date -u +%H:%M:%S)"
  timeout 300 /usr/bin/python3 bench/datapath.py --cell 2x300/whole --cell 2x300/serialised --competitor mptcp --competitor single-link --reps 1 --out /tmp/gso/out-mptcp-$round 2>&1 | grep -E "retr"
done
echo DONE

#!/bin/sh
# bidir with agg-rto-min none against the new default 100, interleaved, 2x300 whole and serialised
cd /tmp/b0   # git archive 4776166, tools/build-bpf there
for round in 1 2 3; do
  for r in none 100; do
    echo "=== round $round rto-min $r $(date -u +%H:%M:%S)"
    timeout 300 /usr/bin/python3 bench/datapath.py --cell 2x300/whole --cell 2x300/serialised --competitor overlay-bpf --reps 1 --out /tmp/rtob/out-$r-$round --overlay-option "agg-rto-min $r" 2>&1 | grep -E "retr|^## "
  done
done
echo DONE

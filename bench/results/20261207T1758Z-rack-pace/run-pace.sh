#!/bin/sh
# agg-pace at 2x500 serialised: default (unpaced above 300) against 850 and 920, alternating, 2 rounds
cd /tmp/rx
for round in 1 2; do
  for p in default 850 920; do
    extra=""; [ $p != default ] && extra="--overlay-option"
    echo "### round $round pace $p"
    if [ $p = default ]; then
      timeout 600 /usr/bin/python3 bench/datapath.py --cell 2x500/serialised --competitor overlay-bpf --reps 1 --out /tmp/rx/outp 2>&1 | grep -E "rep "
    else
      timeout 600 /usr/bin/python3 bench/datapath.py --cell 2x500/serialised --competitor overlay-bpf --reps 1 --out /tmp/rx/outp --overlay-option "agg-pace $p" 2>&1 | grep -E "rep "
    fi
  done
done

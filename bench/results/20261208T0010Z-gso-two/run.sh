#!/bin/sh
# The defaults, two rounds (default-1, default-2). This loop first alternated them with
# agg-gso-max-segs 2, whose runs failed at once on a quoting error (the option's value
# split in two); run2.sh ran that variant, with a third round of the defaults between.
cd "$(dirname "$0")/../../.."
for round in 1 2; do
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised --cell 2x300/whole \
    --competitor overlay-bpf --reps 2 --out /tmp/g2/default-$round > /tmp/g2/default-$round.log 2>&1
done

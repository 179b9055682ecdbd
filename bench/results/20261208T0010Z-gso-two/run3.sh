#!/bin/sh
# the same A/B with receive offload on the member NICs (--gro), as real NICs have it
cd "$(dirname "$0")/../../.."
for v in gro-default-1 gro-2-1 gro-default-2 gro-2-2; do
  case $v in gro-2-*) set -- --overlay-option "agg-gso-max-segs 2";; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --gro --cell 2x300/serialised --cell 2x300/whole \
      --competitor overlay-bpf --competitor single-link --reps 1 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

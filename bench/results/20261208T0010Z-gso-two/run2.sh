#!/bin/sh
cd "$(dirname "$0")/../../.."
for v in 2-1 default-3 2-2; do
  case $v in 2-*) set -- --overlay-option "agg-gso-max-segs 2";; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised --cell 2x300/whole \
      --competitor overlay-bpf --reps 2 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

#!/bin/sh
# 3x100 serialised (paced): the new 4500-byte bucket against the old 3kb, alternated, 2 rounds
cd "$(dirname "$0")/../../.."
for v in p45-1 p3k-1 p45-2 p3k-2; do
  case $v in p3k-*) set -- --burst 3kb;; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 3x100/serialised --competitor overlay-bpf --competitor mptcp \
      --competitor single-link --reps 2 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

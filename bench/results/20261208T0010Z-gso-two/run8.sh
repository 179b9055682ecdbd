#!/bin/sh
# The bucket artefact off alone (--burst 4500), RACK's window as the namespaces give it:
# the defaults against agg-gso-max-segs 2, alternated, two rounds.
cd "$(dirname "$0")/../../.."
for v in b45-default-1 b45-2-1 b45-default-2 b45-2-2; do
  case $v in b45-2-*) set -- --overlay-option "agg-gso-max-segs 2";; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised \
      --competitor overlay-bpf --competitor mptcp --reps 2 --burst 4500 "$@" \
      --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

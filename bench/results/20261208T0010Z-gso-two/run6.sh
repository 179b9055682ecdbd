#!/bin/sh
# Both of the bench's artefacts off at once: a 4.5 KB tbf bucket (one frame beyond a
# 2-segment GSO packet) and min_rtt following the latest RTT (RACK's window as on a LAN).
# The defaults against agg-gso-max-segs 2, alternated, two rounds; MPTCP and the single
# link in the same runs.
cd "$(dirname "$0")/../../.."
for v in lan-default-1 lan-2-1 lan-default-2 lan-2-2; do
  case $v in lan-2-*) set -- --overlay-option "agg-gso-max-segs 2";; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised \
      --competitor overlay-bpf --competitor mptcp --competitor single-link --reps 2 \
      --burst 4500 --sysctl net.ipv4.tcp_min_rtt_wlen=0 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

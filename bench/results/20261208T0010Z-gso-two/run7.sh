#!/bin/sh
# 2x500 serialised, where auto already gives 2 segments: the bench as it stands against
# both artefacts off (--burst 4500, tcp_min_rtt_wlen=0), alternated, two rounds.
cd "$(dirname "$0")/../../.."
for v in std500-1 lan500-1 std500-2 lan500-2; do
  case $v in lan*) set -- --burst 4500 --sysctl net.ipv4.tcp_min_rtt_wlen=0;; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 2x500/serialised \
      --competitor overlay-bpf --competitor mptcp --competitor single-link --reps 2 "$@" \
      --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

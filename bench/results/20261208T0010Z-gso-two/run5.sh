#!/bin/sh
# RACK's window with a LAN's RTT: net.ipv4.tcp_min_rtt_wlen=0 in both hosts makes min_rtt
# follow the latest RTT samples (here 0.2-0.3 ms under load) instead of the namespaces'
# 9-16 us floor, so RACK's reordering window (min_rtt/4) is what a LAN's base RTT gives.
# The defaults against agg-gso-max-segs 2, alternated, two rounds.
cd "$(dirname "$0")/../../.."
for v in wlen0-default-1 wlen0-2-1 wlen0-default-2 wlen0-2-2; do
  case $v in wlen0-2-*) set -- --overlay-option "agg-gso-max-segs 2";; *) set --;; esac
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised --cell 2x300/whole \
      --competitor overlay-bpf --reps 2 --sysctl net.ipv4.tcp_min_rtt_wlen=0 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

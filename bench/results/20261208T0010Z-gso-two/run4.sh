#!/bin/sh
# agg-gso-max-segs 2 with RACK off on both hosts (tcp_recovery=0), and with the route's reordering metric at 127
cd "$(dirname "$0")/../../.."
for v in 2-norack-1 2-reord-1; do
  case $v in
    2-norack-*) set -- --overlay-option "agg-gso-max-segs 2" --sysctl net.ipv4.tcp_recovery=0;;
    2-reord-*) set -- --overlay-option "agg-gso-max-segs 2" --overlay-option "agg-reordering 127";;
  esac
  /usr/bin/python3 bench/datapath.py --cell 2x300/serialised --cell 2x200/serialised --cell 2x300/whole \
      --competitor overlay-bpf --reps 2 "$@" --out /tmp/g2/$v > /tmp/g2/$v.log 2>&1
done

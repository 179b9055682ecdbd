#!/bin/sh
# --bidir (one iperf3 process) against two processes, interleaved per competitor
cd /tmp/tw
for cell in 2x300/serialised 2x300/whole 1000+100/serialised 3x100/serialised; do
  timeout 900 /usr/bin/python3 bench/experiments/two_way.py --cell $cell --reps 2
done

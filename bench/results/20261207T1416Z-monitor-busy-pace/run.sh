#!/bin/sh
# What the monitor would cost at 32 peers x 4 links, all busy, if hellos to a busy peer
# went only at a keepalive pace: the probe interval set to that pace (no detection at
# 50 ms then: a ceiling of the saving, not a design). 2 rounds, interleaved.
cd /tmp/b1   # git archive 67adaa4, tools/build-bpf there
for round in 1 2; do
  for iv in 50 250 1000; do
    echo "=== round $round interval $iv $(date -u +%H:%M:%S)"
    timeout 240 /usr/bin/python3 bench/monitor_cost.py --peers 32 --links 4 --interval $iv --idle-interval 1000 --seconds 20 --reflector --busy 32 2>&1 | tail -6
  done
done
echo DONE

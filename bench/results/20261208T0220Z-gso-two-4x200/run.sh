#!/bin/sh
# #14's auto change (2 segments at 4x200) under run.py's failover and single-flow workloads
cd "$(dirname "$0")/../../.."
/usr/bin/python3 bench/run.py -w failover --failover-seconds 10 --reps 4 --no-latest --out /tmp/fo/failover > /tmp/fo/failover.log 2>&1
/usr/bin/python3 bench/run.py -w single -l 4x200 --reps 3 --no-latest --out /tmp/fo/single > /tmp/fo/single.log 2>&1

cd /tmp/b
flock /tmp/bench.lock timeout 900 /usr/bin/python3 bench/silent_detect.py --rounds 5 --modes busy,wake,carrier > /tmp/exp/detect.log 2>&1
for r in 3 4 5; do
  flock /tmp/bench.lock timeout 900 /usr/bin/python3 bench/run.py -w failover --failover-seconds 10 --reps 2 --no-latest --out /tmp/exp/fo-50-$r > /tmp/exp/fo-50-$r.log 2>&1
done

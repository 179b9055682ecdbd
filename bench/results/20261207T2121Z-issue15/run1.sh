cd /tmp/b
for r in 1 2; do
 for iv in 50 20; do
  flock /tmp/bench.lock timeout 900 /usr/bin/python3 bench/run.py -w failover --failover-seconds 10 --reps 2 --no-latest --out /tmp/exp/fo-$iv-$r --overlay-option "agg-probe-interval $iv" > /tmp/exp/fo-$iv-$r.log 2>&1
 done
done

#!/bin/sh
cd .
for r in 1 2 3; do
 for l in 100+224 100+250+250; do
  w=$(echo $l | tr + ' ')
  timeout 600 /usr/bin/python3 bench/run.py -w single -l $l -s serialised --reps 1 --no-latest --out /tmp/il/default-$l-$r > /tmp/il/default-$l-$r.log 2>&1
  timeout 600 /usr/bin/python3 bench/run.py -w single -l $l -s serialised --reps 1 --no-latest --overlay-option "agg-weights $w" --out /tmp/il/fixed-$l-$r > /tmp/il/fixed-$l-$r.log 2>&1
 done
done
echo done > /tmp/il/done

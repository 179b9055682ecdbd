#!/bin/sh
cd .
run() { name=$1; shift; timeout 1200 /usr/bin/python3 bench/run.py --reps 3 --no-latest --out /tmp/qm/$name "$@" > /tmp/qm/$name.log 2>&1; }
run u2-default -w single -l 100+224
run u2-fixed -w single -l 100+224 --overlay-option "agg-weights 100 224"
run u2-nometer -w single -l 100+224 --overlay-option "agg-queue-meter off"
run u3-default -w single -l 100+250+250
run u3-fixed -w single -l 100+250+250 --overlay-option "agg-weights 100 250 250"
run u3-nometer -w single -l 100+250+250 --overlay-option "agg-queue-meter off"
run ch-default -w changing
run ch-nometer -w changing --overlay-option "agg-queue-meter off"
echo done > /tmp/qm/chain.done

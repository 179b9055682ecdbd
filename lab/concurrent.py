"""Two overlays and the commands that run at once, shared by the root tier's
concurrency test (tests/test_concurrent.py) and the VM's (vm/guest/drift.py, which
adds a bond to them). Not installed."""

OVERLAYS = """\
iface tun7 inet static
    address 198.19.7.1
    fakenet 198.19.7.0/24
    table 17000 17001
    rspec 198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2

iface tun8 inet static
    address 198.19.8.1
    fakenet 198.19.8.0/24
    table 18000 18001
    rspec 198.19.8.1:198.18.70.1:198.18.71.1 198.19.8.2:198.18.70.2:198.18.71.2
    agg-rule-priority 7100
    agg-probe-port 7432
    agg-monitor off
"""

TOGETHER = """
cd "$1"; shift
i=0
for cmd in "$@"; do
    i=$((i+1)); /usr/local/sbin/ifagg $cmd >out.$i 2>&1 &
    eval "pid$i=$!"
done
j=0
while [ $j -lt $i ]; do
    j=$((j+1)); eval "wait \\$pid$j"; echo "rc $j $? $(tr '\\n' ' ' < out.$j)"
done
"""

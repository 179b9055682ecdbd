#!/usr/bin/env python3
"""Where the link monitor's CPU goes: bench/monitor_cost.py's cluster, with the
measured host's monitor replaced by one running under cProfile.

    sudo python3 bench/monitor_profile.py [--peers 32] [--links 4] [--interval 50] [--idle-interval 1000] [--seconds 10] [--reflector] [--busy 4]

Prints the top functions by own time and by cumulative time. cProfile roughly
doubles the cost of Python calls and times by the wall clock (a preempted call
looks slow on a loaded machine), so read the split, not the total (that is
bench/monitor_cost.py's).
"""

import argparse
import os
import pstats
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lab.cluster import Lab  # noqa: E402
from bench.monitor_cost import busy_pings, start  # noqa: E402

RUN = ("import cProfile, sys; from ifupdown_agg.monitor import daemon; "
       "cProfile.run('daemon.main(\"tun0\")', sys.argv[1])")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=int, default=32)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--interval", type=int, default=50)
    ap.add_argument("--idle-interval", type=int, default=1000, help="as in bench/monitor_cost.py")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--reflector", action="store_true", help="as in bench/monitor_cost.py")
    ap.add_argument("--unsigned", action="store_true")
    ap.add_argument("--busy", type=int, default=0, help="as in bench/monitor_cost.py")
    args = ap.parse_args()
    out = f"/tmp/monitor-profile.{os.getpid()}"
    with Lab("mp") as lab:
        hosts, _ = start(lab, args)
        state = f"{hosts[0].dir}/run/ifupdown-agg"
        pid = int(open(f"{state}/tun0.monitor.pid").read())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):            # bounded: 5 s
            if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                break
            time.sleep(0.05)
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        logf = open(f"{out}.log", "w")      # not a pipe: a full pipe would block the monitor
        proc = subprocess.Popen(["ip", "netns", "exec", hosts[0].ns, "env",
                                 f"IFUPDOWN_AGG_STATE_DIR={state}", f"PYTHONPATH={repo}",
                                 sys.executable, "-c", RUN, out], stdout=logf, stderr=logf)
        busy_pings(lab, hosts[0], args)
        time.sleep(args.seconds + 2)
        proc.send_signal(signal.SIGTERM)      # `ip netns exec` execs: this is the monitor
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    logf.close()
    with open(f"{out}.log") as fh:
        lines = fh.readlines()
    print(f"{len(lines)} log lines from the profiled monitor; the last: {''.join(lines[-3:])}")
    os.unlink(f"{out}.log")
    st = pstats.Stats(out)
    st.sort_stats("tottime").print_stats(args.top)
    st.sort_stats("cumulative").print_stats(args.top)
    os.unlink(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

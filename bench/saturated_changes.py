#!/usr/bin/env python3
"""No false failures under load (issue #15): path changes during a saturated flow.

Two namespace hosts over LINKS veth links shaped to RATE (tbf, 20 ms queue), the
overlay with a key and the monitor at its defaults; one TCP flow a -> b for
SECONDS at full rate. Prints the rate and every path change (and drain) either
monitor logged.

    sudo python3 bench/saturated_changes.py [--seconds 60] [--links 4] [--rate 200mbit] [--bidir]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from lab.cluster import Lab  # noqa: E402
from silent_detect import build  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--rate", default="200mbit")
    ap.add_argument("--bidir", action="store_true", help="one flow each way at once (iperf3 --bidir)")
    args = ap.parse_args()
    with Lab("sat") as lab:
        a, b = build(lab, args.links)
        for h in (a, b):
            for i in range(args.links):
                lab.shape(h, f"eth{i}", args.rate, "64kb", "20ms")
        time.sleep(2)
        lab.spawn(b, ["iperf3", "-s", "-1"])
        time.sleep(0.5)
        res = a.run(["iperf3", "-c", "198.19.255.20", "-t", str(args.seconds), "-J"]
                    + (["--bidir"] if args.bidir else []), timeout=args.seconds + 60)
        end = json.loads(res.stdout)["end"]
        back = (f", {end['sum_received_bidir_reverse']['bits_per_second'] / 1e6:.0f} Mbit/s back"
                if args.bidir else "")
        print(f"{args.seconds} s, {args.links} x {args.rate}: "
              f"{end['sum_received']['bits_per_second'] / 1e6:.0f} Mbit/s{back}, "
              f"{end['sum_sent'].get('retransmits')} retransmits")
        for h in (a, b):
            with open(f"{h.dir}/run/ifupdown-agg/tun0.monitor.log") as fh:
                lines = fh.read().splitlines()
            changes = [ln for ln in lines if " DOWN: " in ln or " UP: " in ln]
            # A drain (a path out of the data rotation for a late hello, monitor/health.py)
            # is no failure, but it is a change of the rotation: counted apart.
            drains = [ln for ln in lines if " DRAINED: " in ln]
            print(f"{h.name}: {len(changes)} path changes, {len(drains)} drains")
            for ln in (changes + drains)[:20]:
                print(f"  {ln}")
        for h in (a, b):
            h.ifdown("tun0", check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

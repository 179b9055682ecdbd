"""Run the seed's cluster in network namespaces and push one TCP flow through it.

Three hosts (g, the gateway with one NIC; a and b with one NIC per link) are
joined by tbf-shaped veth links. The seed stanza, with its addresses moved
into 198.18.0.0/15, is brought up on each host by real `ifup` through the
ifupdown-agg hooks. One iperf3 flow a -> b runs over the best single link,
then over the overlay, and the per-link share and total throughput are shown.
Everything is removed at the end, also after an error or Ctrl-C. Needs root,
ifupdown, iperf3 and python3-nftables; the root namespace is never touched.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

RATE = re.compile(r"^\d+(\.\d+)?(kbit|mbit|gbit)$")


def _rate(text: str) -> str:
    if not RATE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a tc rate such as 200mbit or 1gbit")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--links", type=int, default=4, choices=range(1, 9), metavar="N",
                   help="links between a and b, 1 to 8 (default: %(default)s)")
    p.add_argument("--rate", type=_rate, default="200mbit",
                   help="tbf rate of every link (default: %(default)s)")
    p.add_argument("--burst", default="64kb",
                   help="tbf burst: 64kb passes a GSO packet whole, 3kb serialises "
                        "segments as a real NIC does (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=5, help="length of each flow (default: %(default)s)")


def _step(n: int, total: int, text: str) -> None:
    print(f"[{n}/{total}] {text} ...", end=" ", flush=True)


def run(args) -> int:
    from lab.cluster import Lab, LabError, missing_tools

    if os.geteuid() != 0:
        print("demo: needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    missing = missing_tools("ifup", "iperf3", "tc")
    if missing:
        print(f"demo: missing {', '.join(missing)}: apt install ifupdown iperf3 iproute2",
              file=sys.stderr)
        return 1

    print(f"ifupdown-agg demo: hosts g, a, b; {args.links} link(s) of {args.rate} between a and b "
          f"(tbf burst {args.burst})")
    with Lab("demo") as lab:
        try:
            rc = _demo(lab, args)
        except LabError as err:
            print(f"\ndemo: {err}", file=sys.stderr)
            rc = 1
        except KeyboardInterrupt:
            print("\ninterrupted; removing the namespaces", file=sys.stderr)
            rc = 130
    print("namespaces removed")
    return rc


STEPS = 5


def _demo(lab, args) -> int:
    from lab.cluster import VIRT, build_seed_cluster, iperf3, seed_stanza
    t0 = time.monotonic()
    _step(1, STEPS, "creating namespaces and shaped links")
    hosts = build_seed_cluster(lab, rate=args.rate, links=args.links, burst=args.burst)
    print(f"done ({time.monotonic() - t0:.1f} s)")

    _step(2, STEPS, "ifup tun0 on g, a and b through the ifupdown-agg hooks")
    t0 = time.monotonic()
    for h in hosts:
        h.write_interfaces(seed_stanza(VIRT[h.name], args.links))
        h.ifup("tun0")
    print(f"done ({time.monotonic() - t0:.1f} s)")
    g, a, b = hosts

    _step(3, STEPS, f"one TCP flow a -> b over the best single link, {args.seconds:g} s")
    single = iperf3(lab, b, a, "198.18.0.20" if args.links > 1 else "198.18.23.20",
                    args.seconds)
    print(f"{single / 1e6:.0f} Mbit/s")

    _step(4, STEPS, f"one TCP flow a -> b over the overlay, {args.seconds:g} s")
    before = {ln["table"]: ln for ln in a.status("tun0")["links"]}
    overlay = iperf3(lab, b, a, VIRT["b"], args.seconds)
    after = a.status("tun0")["links"]
    print(f"{overlay / 1e6:.0f} Mbit/s")
    _shares(before, after, overlay, single, args.links * _mbit(args.rate))

    _step(5, STEPS, "ifdown tun0 on every host")
    for h in hosts:
        h.ifdown("tun0")
    left = [obj for h in hosts for obj in h.our_objects()]
    print("done, nothing of ours left" if not left else f"LEFT BEHIND: {left}")
    return 0 if not left else 1


def _shares(before, after, overlay: float, single: float, total_rate: float) -> None:
    """What each link carried of the overlay's flow, against its share of the rotation."""
    sent = {ln["table"]: ln["bytes"] - before[ln["table"]]["bytes"] for ln in after}
    all_bytes = sum(sent.values()) or 1
    print(f"      {'link':<6} {'table':>6} {'rotation':>9} {'carried':>8} {'Mbit/s':>8}")
    for ln in after:
        share = sent[ln["table"]] / all_bytes
        print(f"      {ln['dev']:<6} {ln['table']:>6} {ln['rotation_share']:>9.1%} "
              f"{share:>8.1%} {share * overlay / 1e6:>8.0f}")
    print(f"      total {overlay / 1e6:.0f} Mbit/s: {overlay / single:.2f}x the best single "
          f"link, {overlay / 1e6 / total_rate:.0%} of the links' {total_rate:.0f} Mbit/s")


def _mbit(rate: str) -> float:
    value, unit = RATE.match(rate).group(0)[:-4], rate[-4:]
    return float(value) * {"kbit": 1e-3, "mbit": 1.0, "gbit": 1e3}[unit]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

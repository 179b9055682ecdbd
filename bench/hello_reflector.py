#!/usr/bin/env python3
"""Stand-in peers for bench/monitor_cost.py --reflector: one process answers for
every peer with the monitor's own code, so the machine runs 2 monitors' worth of
hellos instead of PEERS + 1 (on 2 shared cores 33 full monitors starve each other).

Each peer namespace gets its own probe.Sockets (one per link, opened inside the
namespace through setns(2)), Tracker and Exchange, exactly as a monitor has; one
epoll waits for all of them and every interval each peer sends its hellos. Paths'
health is tracked but acts on nothing (there is no overlay on the peers).

    python3 bench/hello_reflector.py --interval MS --key FILE --links L NS:VIRT:ADDR,ADDR.. ...
"""

import argparse
import ctypes
import os
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ifupdown_agg.monitor import keys, probe  # noqa: E402
from ifupdown_agg.monitor.demand import Pacer  # noqa: E402
from ifupdown_agg.monitor.exchange import Exchange  # noqa: E402
from ifupdown_agg.monitor.health import Path, Tracker  # noqa: E402

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def open_peer(ns: str, addrs, port: int) -> probe.Sockets:
    """A peer's sockets, one per link, made inside its namespace."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/var/run/netns/{ns}")
        socks = probe.Sockets(port)
        for link, addr in enumerate(addrs):
            socks.open(f"eth{link}", addr)
    finally:
        if _libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home)
    return socks


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=int, default=50)
    ap.add_argument("--idle-interval", type=int, default=0,
                    help="the peers' agg-probe-idle-interval (0: always --interval); they carry "
                         "no traffic, so they go idle once the measured host does")
    ap.add_argument("--port", type=int, default=7431)
    ap.add_argument("--key", default="")
    ap.add_argument("--seconds", type=float, default=600, help="stop after this long at most")
    ap.add_argument("--target-virt", default="198.19.0.1")
    ap.add_argument("--target", required=True, help="the measured host's addresses, comma separated")
    ap.add_argument("peers", nargs="+", help="NS:VIRT:ADDR,ADDR,...")
    args = ap.parse_args()
    signer = probe.Signer(keys.load(args.key) if args.key else None)
    target = args.target.split(",")
    exchanges, by_fd = [], {}
    poller = select.epoll()
    for spec in args.peers:
        ns, virt, addrs = spec.split(":")
        addrs = addrs.split(",")
        socks = open_peer(ns, addrs, args.port)
        paths = [Path(args.target_virt, 0, f"eth{i}", addrs[i], target[i], (20000 + i,))
                 for i in range(len(addrs))]
        ex = Exchange(Tracker(paths, args.interval / 1000, 3, 10, seq=time.time_ns() // 1000),
                      socks, virt, signer)
        ex.pacer = Pacer(ex.tracker, args.idle_interval / 1000, args.idle_interval > 0)
        exchanges.append(ex)
        for fd in socks.filenos():
            by_fd[fd] = ex
            poller.register(fd, select.EPOLLIN)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    interval = args.interval / 1000
    start = next_tick = time.monotonic()
    print("ready", flush=True)
    while not stop and time.monotonic() - start < args.seconds:      # bounded
        try:
            events = poller.poll(max(0.0, next_tick - time.monotonic()))
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            by_fd[fd].read(fd, now)
        if now >= next_tick:
            for ex in exchanges:
                ex.resync()
                ex.send(ex.pacer.due(now))
                ex.tracker.tick(now)
                ex.tracker.pending.clear()
            next_tick = max(next_tick + interval, now)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The spreader's segmenting hop: a veth pair that cuts foreign GSO packets into segments.

Our own sockets respect the overlay device's GSO cap; traffic we forward (a
container bridge) or carry for a tunnel (VXLAN to a peer's overlay address)
reaches the spreader as whole GSO super-packets. The spreader sends those into
the pair's entry, whose gso_max_segs is 1, so the kernel segments them in
software on transmit (validate_xmit_skb); the same program, attached to the
exit's ingress through tcx (bpf(2), nothing pinned), spreads every segment.

Both ends carry our alias (HOP_ALIAS); deleting the entry deletes the pair,
and with it the attachment; it goes with the spreader or the overlay device. Without tcx (kernels before 6.6) there is no hop: `make`
returns why, and the spreader spreads such packets whole as before.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from typing import List, Optional, Tuple

from ifupdown_agg.core.objects import DEVICE_ALIAS

# Not DEVICE_ALIAS itself: `ifagg cleanup` deletes devices with that alias as overlay
# devices; the hop goes with its spreader or its overlay device.
HOP_ALIAS = DEVICE_ALIAS + " segmenting hop"

BPF_PROG_ATTACH = 8
BPF_TCX_INGRESS = 46          # enum bpf_attach_type, Linux 6.6
TCX_KERNEL = (6, 6)
HOP_SEGS = 1                  # the entry's gso_max_segs: segment fully
# The pacing tbf's bucket: 30 us of the paced rate, at least two segments. A bigger
# bucket lets bursts above the members' sum through, to queue in a member NIC.
PACE_BURST_SECONDS = 30e-6
PACE_BURST_MIN = 3000
PACE_LATENCY = "20ms"         # the one queue's depth, as the member shapers' in the lab


def supported(release: str = "") -> bool:
    """Whether this kernel can attach the hop's exit program (tcx: Linux 6.6)."""
    release = release or os.uname().release
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= TCX_KERNEL


def names(dev: str) -> Tuple[str, str]:
    """(entry, exit) of `dev`'s hop; at most 15 characters each."""
    return f"aggs-{dev}"[:15], f"aggx-{dev}"[:15]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([tool, *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess(args, 1, "", str(err))


def _ip(*args: str) -> subprocess.CompletedProcess:
    return _run("ip", *args)


def _tc(*args: str) -> subprocess.CompletedProcess:
    return _run("tc", *args)


def _sysfs_int(name: str, attr: str) -> int:
    try:
        with open(f"/sys/class/net/{name}/{attr}") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 0


def ifindex(name: str) -> int:
    return _sysfs_int(name, "ifindex")


def _alias(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/ifalias") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _ours_entry(entry: str) -> bool:
    """Our alias; or none yet with our exit as its peer: `ip link add` cannot set the
    alias, so an ifup killed between the add and the alias leaves the pair bare."""
    alias = _alias(entry)
    if alias == HOP_ALIAS:
        return True
    exit_ = "aggx-" + entry[len("aggs-"):]
    return alias == "" and entry.startswith("aggs-") and ifindex(exit_) != 0 \
        and _sysfs_int(exit_, "iflink") == ifindex(entry)     # a veth's iflink: its peer


def ours(dev: str) -> bool:
    return _ours_entry(names(dev)[0])


def max_segs(dev: str) -> int:
    """The overlay device's GSO cap: packets with more segments take the hop. (sysfs has
    no gso_max_segs: it is a netlink attribute only.)"""
    done = _ip("-j", "-d", "link", "show", "dev", dev)
    try:
        return max(1, int(json.loads(done.stdout)[0]["gso_max_segs"])) if done.returncode == 0 else 1
    except (ValueError, LookupError, TypeError):
        return 1


def pace(dev: str, mbit: int) -> str:
    """Pace `dev`'s hop at `mbit` (a tbf root qdisc on its entry), or stop pacing (0);
    why it failed, or ""."""
    entry = names(dev)[0]
    if not mbit:
        if paced(dev):
            _tc("qdisc", "del", "dev", entry, "root")
        return ""
    burst = max(PACE_BURST_MIN, int(mbit * 1e6 / 8 * PACE_BURST_SECONDS))
    done = _tc("qdisc", "replace", "dev", entry, "root", "tbf", "rate", f"{mbit}mbit",
               "burst", str(burst), "latency", PACE_LATENCY)
    return f"tc qdisc replace dev {entry} root tbf: {done.stderr.strip()}" if done.returncode else ""


def paced(dev: str) -> int:
    """The rate in Mbit/s that `dev`'s hop is paced at; 0 when it is not."""
    done = _tc("-j", "qdisc", "show", "dev", names(dev)[0], "root")
    try:
        found = json.loads(done.stdout or "[]") if done.returncode == 0 else []
    except ValueError:
        return 0
    for qdisc in found:
        if qdisc.get("kind") == "tbf" and qdisc.get("root"):
            return round(qdisc.get("options", {}).get("rate", 0) * 8 / 1e6)
    return 0


def make(dev: str, prog_fd: int, bpf) -> Tuple[Optional[Tuple[int, int]], str]:
    """Create (or reuse) the pair and attach the program at the exit; ((entry, exit)
    ifindexes, "") or (None, why not). `bpf` is kernel.bpf's syscall function."""
    entry, exit_ = names(dev)
    if not ifindex(entry):
        done = _ip("link", "add", entry, "gso_max_segs", str(HOP_SEGS), "type", "veth",
                   "peer", "name", exit_)
        if done.returncode != 0:
            return None, f"ip link add {entry}: {done.stderr.strip()}"
    elif not ours(dev):
        return None, f"{entry} exists and is not ifupdown-agg's"
    for name in (entry, exit_):
        # Nothing is routed through the pair: no addresses, no IPv6 link-local.
        _ip("link", "set", name, "alias", HOP_ALIAS, "addrgenmode", "none")
        _ip("link", "set", name, "up")
    indexes = (ifindex(entry), ifindex(exit_))
    try:
        bpf(BPF_PROG_ATTACH, struct.pack("=IIIII", indexes[1], prog_fd, BPF_TCX_INGRESS, 0, 0))
    except OSError as err:
        if err.errno != 17:         # EEXIST: attached already (applied twice)
            remove(dev)
            return None, f"tcx attach on {exit_}: {os.strerror(err.errno or 0)}"
    return indexes, ""


def remove(dev: str) -> None:
    """Delete the pair if it is ours (deleting one end deletes both)."""
    if ours(dev):
        _ip("link", "del", names(dev)[0])


def left(dev: Optional[str] = None) -> List[str]:
    """Entries of hops still here (of `dev`, or all): what `ifagg cleanup` removes."""
    try:
        found = sorted(os.listdir("/sys/class/net"))
    except OSError:
        return []
    wanted = names(dev)[0] if dev else None
    return [n for n in found if n.startswith("aggs-") and (wanted is None or n == wanted)
            and _ours_entry(n)]


def delete(entry: str) -> None:
    _ip("link", "del", entry)

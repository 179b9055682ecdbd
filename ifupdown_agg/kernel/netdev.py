"""A netdev's name, up flag, MACs, carrier and link-local addresses: ioctls, /sys/class/net
reads, and the sorting of the addresses a netlink dump gives.

The usb wing renames its gadget's interface and bounces it through here, so that
kernel/ stays the only package that touches the running system.
Renames and up/down use the SIOCSIFNAME/SIOCSIFFLAGS ioctls.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Dict, Optional

from ifupdown_agg.kernel import sysfs

SYSFS_NET = "/sys/class/net"
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFNAME = 0x8913, 0x8914, 0x8923
IFF_UP = 0x1
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40


def _ifreq(fmt: str, *args) -> bytes:
    return struct.pack(fmt, *args).ljust(40, b"\0")


def rename(old: str, new: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCSIFNAME, _ifreq("16s16s", old.encode(), new.encode()))


def set_up(name: str, up: bool) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        got = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, _ifreq("16s", name.encode()))
        flags = struct.unpack_from("H", got, 16)[0]
        flags = (flags | IFF_UP) if up else (flags & ~IFF_UP)
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, _ifreq("16sH", name.encode(), flags))


def exists(name: str) -> bool:
    return os.path.isdir(os.path.join(SYSFS_NET, name))


def is_up(name: str) -> bool:
    value = sysfs.read(os.path.join(SYSFS_NET, name, "flags"))
    try:
        return bool(int(value, 16) & IFF_UP) if value is not None else False
    except ValueError:
        return False


def macs() -> Dict[str, str]:
    """Every netdev's MAC address -> its name."""
    out = {}
    for name in os.listdir(SYSFS_NET):
        value = sysfs.read(os.path.join(SYSFS_NET, name, "address"))
        if value is not None:
            out[value] = name
    return out


def carrier(iface: str) -> Optional[bool]:
    """The carrier: None while the interface is down (sysfs refuses to say) or gone."""
    value = sysfs.read(os.path.join(SYSFS_NET, iface, "carrier"))
    return None if value is None else value == "1"


def dad_state(flags: int) -> str:
    """An IPv6 address's duplicate address detection: "" (done, or never run: nodad),
    "tentative" (under way: the address is the NIC's, usable once it ends) or
    "dadfailed" (another host on the link holds it)."""
    if flags & IFA_F_DADFAILED:
        return "dadfailed"
    return "tentative" if flags & IFA_F_TENTATIVE else ""


def file_address(link, addr: str, prefixlen: int, flags: int) -> None:
    """One address of a netlink dump into its LinkInfo: a link-local one (fe80::/10, on
    every IPv6 link, so no hop is found by it) to link_local with its DAD state, any
    other to addrs."""
    if addr[:3].lower() in ("fe8", "fe9", "fea", "feb") and ":" in addr:
        link.link_local.append((addr, dad_state(flags)))
    else:
        link.addrs.append((addr, prefixlen))

"""The tun device that holds the overlay address, made and removed without netlink.

The ioctls are the ones `ip tuntap` uses; the alias marks the device as ours
(sysfs ifalias), so cleanup can tell it from a device someone else made. This
keeps the pre-up and post-down hooks free of pyroute2, whose import is most
of a hook's run time.
"""

from __future__ import annotations

import fcntl
import os
import struct

from ifupdown_agg.kernel import hop

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def _sys(name: str, attr: str) -> str:
    return f"/sys/class/net/{name}/{attr}"


def exists(name: str) -> bool:
    return os.path.exists(_sys(name, "ifindex"))


def alias(name: str) -> str:
    try:
        with open(_sys(name, "ifalias")) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _persist(name: str, on: bool) -> None:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 1 if on else 0)
    finally:
        os.close(fd)    # without persistence, closing the last descriptor removes it


def create(name: str, mark: str) -> None:
    _persist(name, True)
    with open(_sys(name, "ifalias"), "w") as fh:
        fh.write(mark)


def delete(name: str) -> None:
    """Remove the device, and its spreader's segmenting hop, which would outlive it."""
    _persist(name, False)
    hop.remove(name)

"""Reading sysfs-like trees: small text files, numbers and symlink targets.

Every reader takes a root directory ("/" on a live machine) so that tests and
captures from another machine run on a copied tree. Nothing here judges what
it reads; the wings do.
"""

from __future__ import annotations

import os
from typing import List, Optional


class Sysfs:
    """Files under `root`: Sysfs("/").read("sys/class/net/eth0/speed")."""

    def __init__(self, root: str = "/"):
        self.root = root

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *[p.lstrip("/") for p in parts])

    def read(self, *parts: str) -> Optional[str]:
        return read(self.path(*parts))

    def read_int(self, *parts: str) -> Optional[int]:
        return read_int(self.path(*parts))

    def link_name(self, *parts: str) -> Optional[str]:
        return link_name(self.path(*parts))

    def listdir(self, *parts: str) -> List[str]:
        path = self.path(*parts)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def speed(self, iface: str) -> Optional[int]:
        """A netdev's speed in Mbit/s; None when unknown (-1, or EINVAL when down)."""
        value = self.read_int("sys/class/net", iface, "speed")
        return value if value and value > 0 else None


def read(path: str) -> Optional[str]:
    """The file's text, stripped (NULs too: device-tree strings end in one)."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read().replace("\0", "").strip()
    except OSError:            # EINVAL for speed/duplex/carrier of a link that is down
        return None


def read_int(path: str) -> Optional[int]:
    value = read(path)
    return int(value) if value and value.lstrip("-").isdigit() else None


def link_name(path: str) -> Optional[str]:
    """The last part of a symlink's target (a driver's name), or None."""
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None

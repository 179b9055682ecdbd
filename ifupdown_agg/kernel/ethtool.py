"""Two ethtool questions through the SIOCETHTOOL ioctl: the driver, and speed/duplex.

The ioctl answers for a link that is down too (sysfs duplex does not), and it
is what bonding itself asks when a port is enslaved. No netlink, no pyroute2.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
from typing import Optional

from ifupdown_agg.core.objects import LinkFacts
from ifupdown_agg.kernel import sysfs

SIOCETHTOOL = 0x8946
ETHTOOL_GSET = 0x00000001
ETHTOOL_GDRVINFO = 0x00000003
DUPLEX = {0: "half", 1: "full"}
SPEED_UNKNOWN = (0xFFFF, 0xFFFFFFFF, 0)


def _ioctl(name: str, buf: array.array) -> bool:
    addr, _ = buf.buffer_info()
    ifreq = struct.pack("16sP", name.encode(), addr)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError:
            return False
    return True


def driver(name: str) -> Optional[str]:
    buf = array.array("B", struct.pack("I", ETHTOOL_GDRVINFO) + bytes(192))
    if not _ioctl(name, buf):
        return None
    return buf.tobytes()[4:36].split(b"\0", 1)[0].decode(errors="replace") or None


def speed_duplex(name: str):
    """(Mbit/s or None, 'full'|'half'|'unknown')."""
    # struct ethtool_cmd: cmd, supported, advertising, speed(16), duplex(8), ...
    buf = array.array("B", struct.pack("I", ETHTOOL_GSET) + bytes(40))
    if not _ioctl(name, buf):
        return None, "unknown"
    _, _, _, speed_lo, duplex = struct.unpack_from("IIIHB", buf.tobytes())
    speed_hi = struct.unpack_from("H", buf.tobytes(), 28)[0]
    speed = (speed_hi << 16) | speed_lo
    return (None if speed in SPEED_UNKNOWN else speed), DUPLEX.get(duplex, "unknown")


def carrier(name: str) -> bool:
    return sysfs.read(f"/sys/class/net/{name}/carrier") == "1"   # EINVAL when down: False


def port_facts(name: str) -> LinkFacts:
    speed, duplex = speed_duplex(name)
    return LinkFacts(name, driver=driver(name), speed_mbps=speed, duplex=duplex,
                     carrier=carrier(name))

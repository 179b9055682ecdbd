"""A tunnel device as plain data (VXLAN, Geneve, GRE...): what kernel/tunnels.py reads
and overlay/tunnels.py judges (does it ride on the overlay, does it fit its MTU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Bytes a tunnel adds to its device's MTU, over IPv4 (outer IP, UDP, headers, inner Ethernet).
OVERHEAD = {"vxlan": 50, "geneve": 50, "gretap": 38, "gre": 24, "ipip": 20, "sit": 20,
            "bareudp": 28, "wireguard": 60}
DEFAULT_OVERHEAD = 50


@dataclass(frozen=True)
class Tunnel:
    name: str
    kind: str
    mtu: int
    local: str = ""
    remote: str = ""
    link: str = ""          # the device it is bound to
    vni: Optional[int] = None
    port: Optional[int] = None

    def overhead(self) -> int:
        return OVERHEAD.get(self.kind, DEFAULT_OVERHEAD)

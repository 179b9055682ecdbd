"""The namespace's tunnel devices (VXLAN, Geneve, GRE, IPIP...), read from `ip -d -j link`.

Only what overlay/tunnels.py judges: kind, MTU, local and remote address, the
device it is bound to, VNI and port. Unreadable or absent iproute2: no tunnels.
"""

from __future__ import annotations

import json
import subprocess
from typing import List

from ifupdown_agg.core.tunnel import OVERHEAD, Tunnel


def observe() -> List[Tunnel]:
    try:
        done = subprocess.run(["ip", "-d", "-j", "link", "show"], capture_output=True,
                              text=True, timeout=20)
        links = json.loads(done.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    out = []
    for link in links:
        info = link.get("linkinfo") or {}
        kind = info.get("info_kind", "")
        if kind not in OVERHEAD:
            continue
        data = info.get("info_data") or {}
        out.append(Tunnel(link.get("ifname", ""), kind, int(link.get("mtu") or 0),
                          str(data.get("local") or ""),
                          str(data.get("remote") or data.get("group") or ""),
                          str(data.get("link") or ""), data.get("id"), data.get("port")))
    return out

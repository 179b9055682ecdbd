"""What each systemd-networkd version can say, so the generator targets one.

Baseline is Debian bookworm's 252. Checked against 252's own parser (the key
names compiled into /lib/systemd/systemd-networkd) and by running it:
[Route] Protocol= takes a number (our 173), TCPCongestionControlAlgorithm=
exists, [RoutingPolicyRule] has no Protocol= (rules get "proto static"), and
there is no IPv4ReversePathFilter= and no NFTSet=; both arrive in 255.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

BOOKWORM = 252
OLDEST = 252        # TCPCongestionControlAlgorithm= and Tun KeepCarrier= are in 252


@dataclass(frozen=True)
class Features:
    version: int

    @property
    def rp_filter_key(self) -> bool:
        """[Network] IPv4ReversePathFilter= (255): networkd sets rp_filter itself."""
        return self.version >= 255

    @property
    def nft_set(self) -> bool:
        """[Address]/[DHCPv4]… NFTSet= (255) only fills sets with a link's own
        addresses or prefixes. It cannot make tables, chains or our numgen
        rotation, so the marking stays with our unit on every version."""
        return self.version >= 255

    @property
    def route_metrics(self) -> bool:
        """No version has a key for RTAX_REORDERING, and 252 none for a locked
        RTAX_RTO_MIN; only congctl has one."""
        return False


def installed_version() -> int:
    """`networkctl --version` of this machine, or bookworm's if there is none."""
    try:
        out = subprocess.run(["networkctl", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return BOOKWORM
    m = re.match(r"systemd (\d+)", out)
    return int(m.group(1)) if m else BOOKWORM

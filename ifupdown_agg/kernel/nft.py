"""nftables through libnftables (Debian's python3-nftables): each run() is one transaction."""

from __future__ import annotations

import json
from typing import Dict

from ifupdown_agg.core.objects import DEVICE_ALIAS, NFT6_PREFIX, NFT_PREFIX, NftTable, nft_family
from ifupdown_agg.errors import ApplyError


CAP_NET_ADMIN = 12


def can_admin() -> bool:
    """Whether this process has CAP_NET_ADMIN (root has it), from /proc/self/status."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return True         # cannot tell: let nft answer


class Nft:
    """libnftables through Debian's python3-nftables; each cmd() is one transaction."""

    def __init__(self):
        try:
            import nftables
        except ImportError:
            raise ApplyError("the Python nftables module is missing: apt install python3-nftables") from None
        self._nft = nftables.Nftables()

    def run(self, script: str) -> str:
        rc, out, err = self._nft.cmd(script)
        if rc != 0:
            raise ApplyError(f"nft refused the change: {err.strip()}")
        return out

    def read(self, script: str) -> str:
        """A listing: without CAP_NET_ADMIN the kernel shows no nft table to anyone."""
        if not can_admin():
            raise ApplyError("needs root to read the nft tables (CAP_NET_ADMIN): run it as "
                             "root; nothing was changed")
        return self.run(script)

    def our_tables(self) -> Dict[str, NftTable]:
        tables = {}
        for family, prefix in (("ip", NFT_PREFIX), ("ip6", NFT6_PREFIX)):
            for line in self.read(f"list tables {family}").splitlines():
                name = line.split()[-1] if line.startswith(f"table {family} ") else ""
                if name.startswith(prefix):
                    listing = self.read(f"list table {family} {name}")
                    tables[name] = NftTable(name, digest_from_listing(listing), listing)
        return tables

    def counters(self, name: str) -> Dict[str, Dict[str, int]]:
        """Packets and bytes of every named counter of our table."""
        self._nft.set_json_output(True)
        try:
            data = json.loads(self.read(f"list counters table {nft_family(name)} {name}"))
        finally:
            self._nft.set_json_output(False)
        return {c["counter"]["name"]: {"packets": c["counter"]["packets"],
                                       "bytes": c["counter"]["bytes"]}
                for c in data.get("nftables", []) if "counter" in c}


def digest_from_listing(listing: str) -> str:
    """The digest we wrote in the table comment, or "" if absent."""
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith(f'comment "{DEVICE_ALIAS} '):
            return line.rstrip('"').split()[-1]
    return ""

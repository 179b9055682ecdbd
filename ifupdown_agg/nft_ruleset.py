"""The nftables ruleset that spreads packets to the fake net over the tables.

Packets are marked per packet from an interleaved weighted sequence: with
weights 2:1:2, the rotation is 0 2 1 0 2 rather than 0 0 1 2 2, which keeps
each link's queue short (measured: contiguous blocks do worse, `numgen random`
7-12 points worse).
"""

from __future__ import annotations

import hashlib
from functools import reduce
from math import gcd
from typing import List, Sequence, Tuple

from .kobjects import DEVICE_ALIAS, NftTable

MAX_SLOTS = 64


def reduce_weights(weights: Sequence[int], max_slots: int = MAX_SLOTS) -> Tuple[int, ...]:
    """Smallest integer weights in the same proportion, at most `max_slots` in total."""
    g = reduce(gcd, weights)
    ws = [w // g for w in weights]
    total = sum(ws)
    if total > max_slots:
        ws = [max(1, round(w * max_slots / total)) for w in ws]
        g = reduce(gcd, ws)
        ws = [w // g for w in ws]
    return tuple(ws)


def smooth_rotation(weights: Sequence[int]) -> List[int]:
    """Smooth weighted round robin: one slot per unit of weight, interleaved."""
    total = sum(weights)
    current = [0] * len(weights)
    order = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(best)
    return order


def build(name: str, iface: str, fakenet: str, self_addr: str,
          marks: Sequence[int], weights: Sequence[int],
          labels: Sequence[str]) -> NftTable:
    """The whole table, ready for one atomic `nft -f`."""
    rotation = smooth_rotation(reduce_weights(weights))
    mapping = ", ".join(f"{slot} : {marks[i]}" for slot, i in enumerate(rotation))
    body = [
        "\tchain output {",
        # A route-type chain makes the kernel route the packet again after
        # the mark is set, so the fwmark rules pick the member table.
        "\t\ttype route hook output priority mangle; policy accept;",
        f"\t\tip daddr {fakenet} ip daddr != {self_addr} "
        f"meta mark set numgen inc mod {len(rotation)} map {{ {mapping} }}",
    ]
    for mark, label in zip(marks, labels):
        body.append(f'\t\tmeta mark {mark} counter comment "{label}"')
    body.append("\t}")
    digest = hashlib.sha256("\n".join(body).encode()).hexdigest()[:16]
    script = "\n".join(
        [f"table ip {name} {{", f'\tcomment "{DEVICE_ALIAS} {iface} {digest}"'] + body + ["}", ""])
    return NftTable(name, digest, script)


def digest_from_listing(listing: str) -> str:
    """The digest we wrote in the table comment, or "" if absent."""
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith('comment "') and line.startswith(f'comment "{DEVICE_ALIAS} '):
            return line.rstrip('"').split()[-1]
    return ""

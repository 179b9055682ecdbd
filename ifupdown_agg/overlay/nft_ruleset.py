"""The nftables ruleset that spreads packets to the fake net over the tables.

Each peer has a chain of its own, reached through one verdict-map lookup on
the destination, so the link monitor can take a dead path out of one peer's
rotation in one atomic transaction without touching the others. Packets are
marked per packet from an interleaved weighted sequence: with weights 2:1:2
the rotation is 0 2 1 0 2 rather than 0 0 1 2 2, which keeps each link's
queue short (measured: contiguous blocks do worse, `numgen random` 7-12
points worse). Named counters per (peer, table) survive rotation changes.
"""

from __future__ import annotations

import hashlib
from functools import reduce
from math import gcd
from typing import List, Mapping, Optional, Sequence, Tuple

from ifupdown_agg.core.objects import DEVICE_ALIAS, NftTable, nft_family

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


def chain_name(peer_index: int) -> str:
    return f"peer_{peer_index}"


def counter_name(peer_index: int, table: int) -> str:
    return f"p{peer_index}_t{table}"


def peer_rule(peer_index: int, all_marks: Sequence[int], marks: Sequence[int],
              weights: Sequence[int]) -> str:
    """The one rule of a peer's chain: rotate over `marks`, count per mark."""
    rotation = smooth_rotation(reduce_weights(weights))
    mapping = ", ".join(f"{slot} : {marks[i]}" for slot, i in enumerate(rotation))
    counters = ", ".join(f'{m} : "{counter_name(peer_index, m)}"' for m in all_marks)
    return (f"meta mark set numgen inc mod {len(rotation)} map {{ {mapping} }} "
            f"counter name meta mark map {{ {counters} }}")


def build(name: str, iface: str, peers: Sequence[Tuple[int, str]],
          marks: Sequence[int], weights: Sequence[int],
          paths: Optional[Mapping[int, Sequence[int]]] = None) -> NftTable:
    """The whole table, ready for one atomic `nft -f`; `peers` is (rspec index, address).

    `paths`, when given, is per peer index the positions of the tables that route it
    (learned hops not yet known leave some out): a peer rotates over those only, and a
    peer with none has no chain (its packets are not marked)."""
    if paths is not None:
        peers = [(i, a) for i, a in peers if paths.get(i)]
    body = []
    for index, _ in peers:
        body += [f"\tcounter {counter_name(index, m)} {{ }}" for m in marks]
    vmap = ", ".join(f"{addr} : jump {chain_name(index)}" for index, addr in peers)
    family = nft_family(name)       # ip, or ip6 for an inet6 overlay's table
    daddr = "ip6 daddr" if family == "ip6" else "ip daddr"
    body += [
        "\tchain output {",
        # A route-type chain makes the kernel route the packet again after the
        # mark is set, so the fwmark rules pick the member table.
        "\t\ttype route hook output priority mangle; policy accept;",
        f"\t\t{daddr} vmap {{ {vmap} }}" if peers else "",
        "\t}",
    ]
    for index, _ in peers:
        kept = list(range(len(marks))) if paths is None else list(paths[index])
        rule = peer_rule(index, marks, [marks[k] for k in kept], [weights[k] for k in kept])
        body += [f"\tchain {chain_name(index)} {{", f"\t\t{rule}", "\t}"]
    body = [line for line in body if line]
    digest = hashlib.sha256("\n".join(body).encode()).hexdigest()[:16]
    script = "\n".join(
        [f"table {family} {name} {{", f'\tcomment "{DEVICE_ALIAS} {iface} {digest}"'] + body + ["}", ""])
    return NftTable(name, digest, script)


def peer_update(name: str, peer_index: int, all_marks: Sequence[int], marks: Sequence[int],
                weights: Sequence[int]) -> str:
    """Script that swaps one peer's rotation; several of them make one transaction."""
    chain = chain_name(peer_index)
    family = nft_family(name)
    return (f"flush chain {family} {name} {chain}\n"
            f"add rule {family} {name} {chain} {peer_rule(peer_index, all_marks, marks, weights)}\n")

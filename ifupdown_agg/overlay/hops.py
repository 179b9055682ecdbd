"""Which NIC reaches which hop: this host's member NIC per table, and each peer's next hop.

A global or ULA hop is found by its address: the NIC on whose network it lies. A
link-local hop cannot be (every IPv6 link has fe80::/64), so the rspec names its NIC,
`[fe80::10%eth1]`, and the entry stays the same text on every host: the NIC is the one,
on the host whose entry it is, that holds the address.

- This host's own link-local hop must be an address of the NIC it names: one the kernel
  made (EUI-64) or one a stanza set. Duplicate address detection still under way does not
  fail that (the address is the NIC's; it answers once DAD ends, a second or so); DAD that
  failed does (another host on the link holds the address).
- A peer's link-local hop is not looked up at all (its %NIC is the peer's NIC name). The
  hop at position j of an entry is on the link of position j, so it is reached through
  this host's NIC of its own hop j: in table n, `via fe80::X dev <the NIC of table n>`,
  and a peer with fewer hops than tables (hop j reused for table n) through the NIC of
  table j. Link-local hops therefore suit links where position j is the same link on
  every host that has a hop j.
- A learned hop, `[eth1]`, names the NIC only. This host's own is its link-local address
  on that NIC (the kernel's, or a stanza's); a peer's is the address learned from its
  hellos on the link of that position (overlay/learned.py), and unknown until then.
"""

from __future__ import annotations

from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import netaddr

from ifupdown_agg.config.types import RspecEntry
from ifupdown_agg.core.objects import Observed
from ifupdown_agg.errors import ConfigError

Nets = List[Tuple[netaddr.IPNetwork, str, str]]
Fail = Callable[[str, str, str], ConfigError]        # (option, reason, token)


def connected(obs: Observed) -> Nets:
    """(network, device, address) of every address but the link-local ones."""
    nets = []
    for link in obs.links.values():
        for addr, plen in link.addrs:
            nets.append((netaddr.IPNetwork(f"{addr}/{plen}"), link.name, addr))
    # Longest prefix first, as the kernel would pick.
    nets.sort(key=lambda n: -n[0].prefixlen)
    return nets


def dev_for(hop: str, nets: Nets, skip: str) -> Optional[str]:
    ip = netaddr.IPAddress(hop)
    for net, dev, _ in nets:
        if dev != skip and ip in net and net.prefixlen < (128 if net.version == 6 else 32):
            return dev
    return None


def _own_link_local(me: RspecEntry, i: int, table: int, obs: Observed, skip: str,
                    fail: Fail) -> str:
    """The NIC of this host's link-local hop for table index i, checked."""
    j = me.index_for(i)
    hop, nic, token = me.hops[j], me.nic_at(j), me.written(j)
    link = obs.links.get(nic) if nic != skip else None
    if link is None or nic is None:
        why = "is the overlay's own device" if nic == skip else "is not an interface here"
        what = f"that holds {hop}" if hop else "of that link"
        raise fail("rspec", f"this host's hop {token} for table {table} names {nic}, which "
                   f"{why}; name the member NIC {what}", token)
    if not hop:
        if own_learned(link) is None:
            down = "" if link.up else (f"; {nic} is down, and the kernel makes its link-local "
                                       "address when it comes up")
            raise fail("rspec", f"this host's learned hop [{token}] for table {table} is "
                       f"{nic}'s link-local address, and {nic} has none (or only ones that failed "
                       f"duplicate address detection){down}", token)
        return nic
    state = dict(link.link_local).get(hop)
    if state is None:
        have = ", ".join(a for a, _ in link.link_local) or "none"
        down = "" if link.up else (f"; {nic} is down, and the kernel makes its own link-local "
                                   "address when it comes up")
        raise fail("rspec", f"this host's hop {token} for table {table} is not an address of "
                   f"{nic} (its link-local addresses: {have}); give {nic} that address "
                   f"(iface {nic} inet6 static / address {hop}/64) before the overlay, or "
                   f"write one of its own in the rspec{down}", token)
    if state == "dadfailed":
        raise fail("rspec", f"this host's hop {token} for table {table} failed duplicate "
                   f"address detection on {nic}: another host on that link holds {hop}; give "
                   "each host an address of its own", token)
    return nic


def member_devs(me: RspecEntry, tables: Sequence[int], obs: Observed, nets: Nets, skip: str,
                fail: Fail) -> List[str]:
    """This host's member NIC per table: the one holding its hop (named, if link-local)."""
    local = {addr: dev for _, dev, addr in nets}
    devs = []
    for i, table in enumerate(tables):
        if me.nic_at(me.index_for(i)) is not None:
            devs.append(_own_link_local(me, i, table, obs, skip, fail))
            continue
        hop = me.hop_for(i)
        dev = local.get(hop)
        if dev is None or dev == skip:
            raise fail("rspec", f"this host's hop {hop} for table {table} is not an address "
                       "of any interface here; bring that NIC up with its address before "
                       f"{skip} (or fix the rspec entry)", hop)
        devs.append(dev)
    return devs


def own_learned(link) -> Optional[str]:
    """This host's hop on a NIC written [NIC]: its first link-local address not failed."""
    return next((a for a, state in link.link_local if state != "dadfailed"), None)


def locals_for(me: RspecEntry, tables: Sequence[int], devs: Sequence[str],
               obs: Observed) -> List[str]:
    """This host's hop per table: the rspec's, or for a learned one its NIC's fe80."""
    out = []
    for i in range(len(tables)):
        hop = me.hop_for(i)
        out.append(hop or own_learned(obs.links[devs[i]]) or "")
    return out


class Reach:
    """Which device reaches each hop of a peer, from this host."""

    def __init__(self, me: RspecEntry, devs: Sequence[str], nets: Nets, skip: str,
                 learned: Optional[Mapping[Tuple[str, str], str]] = None):
        self.me, self.devs, self.nets, self.skip = me, devs, nets, skip
        self.learned = learned or {}

    def _hop(self, peer: RspecEntry, j: int, dev: str) -> str:
        """The peer's hop j through dev: written, or learned ("" if not yet)."""
        return self.learned.get((peer.virt, dev), "") if peer.learns(j) else peer.hops[j]

    def dev(self, peer: RspecEntry, j: int) -> Optional[str]:
        """The device that reaches the peer's hop j, or None."""
        if peer.nic_at(j) is not None:
            # Link-local: on the link of position j, where this host has its own hop j.
            return self.devs[j] if j < len(self.me.hops) else None
        return dev_for(peer.hops[j], self.nets, self.skip)

    def next_hop(self, peer: RspecEntry, i: int) -> Tuple[str, Optional[str], str]:
        """(hop, the device that reaches it, the hop as written) for table index i.

        The rspec's own hop wins whenever it is reachable. Otherwise (a host with
        one NIC, such as the seed's gateway, seeing a peer's hop on a link it does
        not have) the peer is reached through another of its hops: one on this
        table's own link if there is one, else any reachable one. A learned hop not
        yet known is "" (with its device): the table has no route to the peer yet.
        """
        j = peer.index_for(i)
        dev = self.dev(peer, j)
        if dev is not None:
            return self._hop(peer, j, dev), dev, peer.written(j)
        reached = [(k, self.dev(peer, k)) for k in range(len(peer.hops))]
        for k, dev in sorted(reached, key=lambda kd: kd[1] != self.devs[i]):
            if dev is not None:
                return self._hop(peer, k, dev), dev, peer.written(k)
        return peer.hops[j], None, peer.written(j)

    def unreachable(self, peer: RspecEntry, i: int, table: int) -> str:
        """Why no hop of the peer is reachable for table index i."""
        j = peer.index_for(i)
        if peer.nic_at(j) is None:
            return (f"next hop {peer.hops[j]} of {peer.virt} for table {table} is on no "
                    "network connected to this host")
        what = "learned" if peer.learns(j) else "link-local"
        return (f"next hop {peer.written(j)} of {peer.virt} for table {table} is {what}, "
                f"on the link of each entry's hop {j + 1}, and this host's entry has "
                f"{len(self.me.hops)} hop(s) (none on that link), nor reaches another of its hops")

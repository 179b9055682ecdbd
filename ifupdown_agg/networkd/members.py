"""Member NICs: the links that carry an overlay's tables, and what we know of them.

The generator needs each NIC's addresses twice: to build the synthetic kernel
snapshot that plan.desired_state reads (which NIC reaches which hop), and to
write the NIC's own .network. They come from the NIC's stanza, a [[members]]
entry of the native file, or the live kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

from ifupdown_agg.errors import ConfigError, Location, TokenError
from ifupdown_agg.core.objects import LinkInfo, Observed
from ifupdown_agg.config.registry import ALL_OPTIONS
from ifupdown_agg.config.schema import Scope
from ifupdown_agg.config.types import MTU, parse_address, parse_ipv4, parse_netmask32
from ifupdown_agg.config.types6 import is_link_local, parse_address6, parse_netmask6


# What a member's .network carries of its stanza: inet static's own rows and gateway;
# the bond and USB rows are carried by devices.py, into the same .network.
CARRIED = frozenset({"gateway"} | {n for n, o in ALL_OPTIONS.items()
                                   if o.owner == "ifupdown" or Scope.OVERLAY not in o.scope})
# Of an `iface NIC inet6 static` stanza (the hops of an inet6 overlay): its address.
CARRIED6 = frozenset({"address", "netmask"})


@dataclass
class MemberNic:
    name: str
    addresses: List[str]                 # "a.b.c.d/len", and "IPv6/len" of its inet6 stanza
    gateway: Optional[str] = None
    mtu: Optional[int] = None
    dropin: Optional[str] = None         # the admin's .network that we extend instead
    location: Optional[Location] = None
    ignored: List[str] = field(default_factory=list)   # stanza lines we do not carry


def _fail(nic: str, reason: str, where: Optional[Location], option: str = "") -> ConfigError:
    return ConfigError(reason, iface=nic, option=option, location=where)


def _from_stanza6(stanza) -> MemberNic:
    """An `iface NIC inet6 static` stanza: the NIC's IPv6 address (an inet6 overlay's hop)."""
    opts = stanza.options
    if "address" not in opts:
        raise _fail(stanza.name, "inet6 static without 'address'", stanza.location, "address")
    try:
        addr, plen = parse_address6(opts["address"].text)
        if plen is None:
            plen = parse_netmask6(opts["netmask"].text) if "netmask" in opts else 64
    except TokenError as err:
        raise _fail(stanza.name, err.reason, stanza.location) from None
    ignored = sorted(f"inet6 {n}" for n in opts if n not in CARRIED6)
    ignored += [f"{kind} {cmd}" for kind, cmd in stanza.commands]
    return MemberNic(stanza.name, [f"{addr}/{plen}"], location=stanza.location, ignored=ignored)


def merge(nics: Dict[str, MemberNic], nic: MemberNic) -> None:
    """Add a NIC's stanza to what its other family's stanza gave, in either order."""
    have = nics.get(nic.name)
    if have is None:
        nics[nic.name] = nic
        return
    v4 = [a for a in have.addresses + nic.addresses if ":" not in a]
    have.addresses = v4 + [a for a in have.addresses + nic.addresses if ":" in a]
    have.gateway = have.gateway or nic.gateway
    have.mtu = have.mtu or nic.mtu
    have.location = have.location or nic.location
    have.ignored = have.ignored + nic.ignored


def from_stanza(stanza) -> Optional[MemberNic]:
    """An `iface NIC inet static` (or inet6 static) stanza as a member; None for other methods."""
    if stanza.method != "static" or stanza.family not in ("inet", "inet6"):
        return None
    if stanza.family == "inet6":
        return _from_stanza6(stanza)
    opts = stanza.options
    if "address" not in opts:
        raise _fail(stanza.name, "inet static without 'address'", stanza.location, "address")
    try:
        addr, plen = parse_address(opts["address"].text)
        if plen is None:
            plen = parse_netmask32(opts["netmask"].text) if "netmask" in opts else 32
        gateway = parse_ipv4(opts["gateway"].text.strip()) if "gateway" in opts else None
        mtu = MTU.parse(opts["mtu"].text) if "mtu" in opts else None
    except TokenError as err:
        raise _fail(stanza.name, err.reason, stanza.location) from None
    ignored = sorted(n for n in opts if n not in CARRIED)
    ignored += [f"{kind} {cmd}" for kind, cmd in stanza.commands]
    return MemberNic(stanza.name, [f"{addr}/{plen}"], gateway, mtu, location=stanza.location,
                     ignored=ignored)


def parse_entry(nic: str, text: str, where: Optional[Location]) -> MemberNic:
    """A native [[members]] value: ADDRESS/PREFIX [ADDRESS/PREFIX...] [gateway GW] [mtu N]."""
    words = text.split()
    addrs, gateway, mtu = [], None, None
    i = 0
    try:
        while i < len(words):           # bounded: every branch consumes a word
            word = words[i]
            if word in ("gateway", "mtu"):
                if i + 1 >= len(words):
                    raise TokenError(word, f"'{word}' needs a value")
                if word == "gateway":
                    gateway = parse_ipv4(words[i + 1])
                else:
                    mtu = MTU.parse(words[i + 1])
                i += 2
                continue
            addr, plen = parse_address6(word) if ":" in word else parse_address(word)
            if plen is None:
                raise TokenError(word, f"'{word}' needs a prefix length, as in {addr}/24")
            addrs.append(f"{addr}/{plen}")
            i += 1
    except TokenError as err:
        raise ConfigError(err.reason, iface=nic, option="members", token=err.token,
                          location=where) from None
    if not addrs:
        raise _fail(nic, "a member needs at least one ADDRESS/PREFIX", where, "members")
    return MemberNic(nic, addrs, gateway, mtu, location=where)


def from_observed(obs: Observed, skip: Iterable[str]) -> Dict[str, MemberNic]:
    """Every NIC with an IPv4 address in the live kernel, as a member candidate."""
    out = {}
    skip = set(skip) | {"lo"}
    for link in obs.links.values():
        ipv4 = [f"{a}/{p}" for a, p in link.addrs if ":" not in a]    # observe() has IPv6 too
        if link.name not in skip and ipv4:
            out[link.name] = MemberNic(link.name, ipv4)
    return out


def synthetic_observed(nics: Iterable[MemberNic]) -> Observed:
    """A kernel snapshot holding just these NICs' addresses.

    conf/all/rp_filter is strict in it, so desired_state asks for loose on
    every route device whatever the node has now: a networkd node gets loose
    from boot on, not only when it happened to be strict when generated.
    """
    obs = Observed()
    for index, nic in enumerate(nics, 2):
        link = LinkInfo(name=nic.name, index=index, up=True)
        for cidr in nic.addresses:
            addr, plen = cidr.split("/")
            if ":" in addr and is_link_local(addr):     # as kernel/netlink.py observes them
                link.link_local.append((addr, ""))
            else:
                link.addrs.append((addr, int(plen)))
        obs.links[nic.name] = link
    obs.sysctls["net/ipv4/conf/all/rp_filter"] = "1"
    return obs

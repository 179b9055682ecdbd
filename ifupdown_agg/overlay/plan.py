"""Desired state for an overlay, and the plan that gets the kernel there.

Pure: it reads a config and an Observed snapshot and returns Ops. The order of
a plan is the order of safe application: the device and its address first,
routes and rules next, and the nft marking last, so no packet is marked
before its table can route it. Teardown runs the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ifupdown_agg.overlay import hops, learned as learned_hops, nft_ruleset, spread
from ifupdown_agg.overlay.rates import auto_gso_segs, auto_weights, fill_bus_caps
from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.core.objects import (DEVICE_ALIAS, RTPROT_IFAGG, Address, KObject, LinkAttrs,
                                       NftTable, Observed, Route, Rule, Spreader, Sysctl, TunDevice,
                                       nft_table_name)
from ifupdown_agg.core.nftcontent import same_contents
from ifupdown_agg.core.ops import Op
from ifupdown_agg.overlay.model import OverlayConfig
from ifupdown_agg.config.schema import RawOption

MAIN_TABLE = 254
RP_LOOSE = "2"


@dataclass
class Member:
    """The link a table sends packets through, as seen from this host."""

    table: int
    dev: str
    local: str          # this host's hop for the table: its address on `dev`
    weight: int


@dataclass
class Desired:
    objects: List[KObject]
    members: List[Member]
    notes: List[str] = field(default_factory=list)
    spread: str = "nft"         # bpf or nft: what marks or steers the packets
    top_run: int = 0            # the bpf spreader's run on the fastest path, in bytes


def rp_filter_path(dev: str) -> str:
    return f"net/ipv4/conf/{dev}/rp_filter"


class _Locator:
    def __init__(self, cfg: OverlayConfig, raw: Optional[Mapping[str, RawOption]]):
        self.cfg, self.raw = cfg, raw or {}

    def error(self, option: str, reason: str, token: str = "") -> ConfigError:
        where: Optional[Location] = None
        if option in self.raw:
            where = self.raw[option].locate(token) if token else self.raw[option].location
        return ConfigError(reason, iface=self.cfg.iface, option=option, token=token,
                           location=where)


def _marking(cfg: OverlayConfig, obs: Observed, devs: Sequence[str], weights: Sequence[int],
             notes: List[str], loc: _Locator) -> Tuple[str, int, Optional[int], int]:
    """(bpf or nft, the fastest path's run, the overlay device's GSO limit, pacing Mbit/s)."""
    mode, why, error = spread.choose(cfg.spread, obs.bpf_program, len(cfg.tables), len(cfg.peers))
    if error:
        raise loc.error("agg-spread", error, "bpf")
    notes += [why] if why else []
    fill_bus_caps(obs)
    rates = [obs.links[d].rate for d in devs]
    top = spread.top_run(rates)
    paced, why, error = spread.pace(cfg.pace, mode, rates, obs.tcx)
    if error:
        raise loc.error("agg-pace", error, str(cfg.pace))
    notes += [why] if why else []
    if cfg.gso_max_segs != "auto" or paced:
        return mode, top, spread.PACED_GSO if cfg.gso_max_segs == "auto" else cfg.gso_max_segs, \
            paced     # type: ignore[return-value]
    gso, gso_why = auto_gso_segs(devs, obs)      # the one rule of both spreaders unpaced (rates.py)
    if mode == "bpf":
        notes.append(spread.explain(devs, rates, spread.runs(weights, top), gso, gso_why))
    return mode, top, gso, paced


def learns(cfg: OverlayConfig) -> bool:
    """Some peer's hop is learned from hellos ([NIC] in the rspec)."""
    return any(e.learns(j) for e in cfg.peers for j in range(len(e.hops)))


def desired_state(cfg: OverlayConfig, obs: Observed,
                  raw: Optional[Mapping[str, RawOption]] = None,
                  learned: Optional[learned_hops.Learned] = None) -> Desired:
    """`learned` is the hops learned from hellos; None reads the stanza's learned file
    (overlay/learned.py) when its rspec has learned hops."""
    loc = _Locator(cfg, raw)
    if learned is None:
        learned = learned_hops.load(cfg.key) if learns(cfg) else {}
    nets = hops.connected(obs)
    devs = hops.member_devs(cfg.me, cfg.tables, obs, nets, cfg.iface, loc.error)

    notes: List[str] = []
    v6 = cfg.family == "inet6"
    if cfg.weights == "auto":
        weights, note = auto_weights(devs, obs)
        notes += [note] if note else []
    else:
        weights = list(cfg.weights)
    own = hops.locals_for(cfg.me, cfg.tables, devs, obs)
    members = [Member(t, d, own[i], w)
               for i, (t, d, w) in enumerate(zip(cfg.tables, devs, weights))]
    if v6:
        # The BPF spreader reads IPv4 only (its program passes other packets on), so the
        # ip6 nft table marks an inet6 overlay's packets; the device's GSO limit and MTU
        # are the inet stanza's (or the kernel's) to set.
        mode, top, paced = "nft", 0, 0
        link = LinkAttrs(cfg.iface, up=True)
    else:
        mode, top, gso, paced = _marking(cfg, obs, devs, weights, notes, loc)
        link = LinkAttrs(cfg.iface, up=True, gso_max_segs=gso,
                         mtu=spread.overlay_mtu(cfg.mtu, cfg.iface, obs, devs, notes, mode))
    objects: List[KObject] = [TunDevice(cfg.iface), link,
                              Address(cfg.iface, cfg.address, cfg.host_prefix)]

    route_devs = set(devs)
    reach = hops.Reach(cfg.me, devs, nets, cfg.iface, learned)
    table_routes, peer_paths, routed = _table_routes(cfg, reach, loc, notes)
    route_devs.update(r.dev for r in table_routes)

    objects += [] if v6 else _rp_filters(obs, route_devs)     # IPv6 has no rp_filter
    objects += table_routes
    objects += [Rule(cfg.rule_priority, t, t, 6 if v6 else 4) for t in cfg.tables]
    objects.append(Route(MAIN_TABLE, cfg.fakenet, cfg.iface, prefsrc=cfg.address,
                         congctl=cfg.congctl, reordering=cfg.reordering,
                         rto_min=cfg.rto_min))
    if mode == "bpf":
        path_devs = sorted({d for paths in peer_paths.values() for d, _ in paths})
        path_rates = [getattr(obs.links.get(d), "rate", None) for d in path_devs]
        metered = spread.meters(path_devs, path_rates, obs.tcx and cfg.queue_meter)
        whole, why = spread.whole_gso(path_rates, paced, obs.tcx)
        notes += [why] if why else []
        objects.append(spread.spreader(cfg.iface, peer_paths, weights, top, obs.bpf_program, paced,
                                       metered, whole))
    else:
        full = all(len(r) == len(cfg.tables) for r in routed.values())
        objects.append(nft_ruleset.build(cfg.nft_table, cfg.iface, cfg.peer_indexes,
                                         cfg.tables, weights, None if full else routed))
    return Desired(objects, members, notes, mode, top)


def _table_routes(cfg: OverlayConfig, reach: hops.Reach, loc: _Locator, notes: List[str]):
    """Every peer's route per table, the paths per peer, and per peer the positions of
    the tables that route it (a learned hop not yet known has none, and a note)."""
    table_routes: List[Route] = []
    peer_paths: Dict[Tuple[int, str], List[Tuple[str, str]]] = {}
    routed: Dict[int, List[int]] = {index: [] for index, _ in cfg.peer_indexes}
    for i, table in enumerate(cfg.tables):
        for (index, _), peer in zip(cfg.peer_indexes, cfg.peers):
            hop, dev, written = reach.next_hop(peer, i)
            if dev is None:
                raise loc.error("rspec", reach.unreachable(peer, i, table), written)
            if not hop:     # learned from hellos, not yet: no route, out of the rotation
                notes.append(learned_hops.pending_note(peer.virt, written, dev, table))
                continue
            routed[index].append(i)
            table_routes.append(Route(table, f"{peer.virt}/{cfg.host_prefix}", dev, gateway=hop))
            peer_paths.setdefault((index, peer.virt), []).append((dev, hop))
    return table_routes, peer_paths, routed


def _rp_filters(obs: Observed, devs) -> List[KObject]:
    all_rp = obs.sysctls.get(rp_filter_path("all"), "0")
    out: List[KObject] = []
    for dev in sorted(devs):
        current = obs.sysctls.get(rp_filter_path(dev), "0")
        # The kernel uses the larger of conf/all and conf/DEV, and only strict (1)
        # hurts. Keeping a value that is already loose makes re-planning stable.
        if all_rp == "1" or current in ("1", RP_LOOSE):
            out.append(Sysctl(rp_filter_path(dev), RP_LOOSE))
    return out


def check_conflicts(cfg: OverlayConfig, obs: Observed,
                    raw: Optional[Mapping[str, RawOption]] = None) -> None:
    """Refuse tables, marks or routes that something else already uses."""
    loc = _Locator(cfg, raw)
    ours = set(cfg.tables)
    for seen in obs.routes:
        r = seen.route
        if seen.proto == RTPROT_IFAGG or r.family != _family(cfg):
            continue
        if r.table in ours:
            raise loc.error("table", f"table {r.table} already holds a route that ifupdown-agg "
                            f"did not make ({r.describe().replace(' proto 173', '')}, "
                            f"proto {seen.proto}); choose a free table ID", str(r.table))
        if r.table == MAIN_TABLE and r.dst == cfg.fakenet:
            raise loc.error("fakenet", f"the main table already routes {cfg.fakenet} "
                            f"(dev {r.dev}, proto {seen.proto}); remove that route or pick "
                            "another fake net", cfg.fakenet)
    for seen in obs.rules:
        r = seen.rule
        if seen.proto == RTPROT_IFAGG or r.family != _family(cfg):
            continue
        if r.table in ours or r.fwmark in ours:
            raise loc.error("table", f"ip rule priority {r.priority} (fwmark {r.fwmark}, lookup "
                            f"{r.table}) is not ours and uses the same table or mark",
                            str(r.table if r.table in ours else r.fwmark))


def _family(cfg: OverlayConfig) -> int:
    return 6 if cfg.family == "inet6" else 4


def _current(obj: KObject, obs: Observed) -> Tuple[bool, Optional[KObject]]:
    """(exists, the object as it is now) for diffing."""
    if isinstance(obj, TunDevice):
        return obj.name in obs.links, None
    if isinstance(obj, LinkAttrs):
        link = obs.links.get(obj.name)
        if link is None:
            return False, LinkAttrs(obj.name, up=False, gso_max_segs=None)
        return True, LinkAttrs(obj.name,
                               up=link.up if obj.up is not None else None,
                               gso_max_segs=link.gso_max_segs if obj.gso_max_segs is not None else None,
                               mtu=link.mtu if obj.mtu is not None else None)
    if isinstance(obj, Address):
        link = obs.links.get(obj.dev)
        return bool(link and (obj.address, obj.prefixlen) in link.addrs), None
    if isinstance(obj, Route):
        seen = obs.route_index().get(obj.key())
        return seen is not None, seen
    if isinstance(obj, Rule):
        return obj in obs.rule_set(), None
    if isinstance(obj, NftTable):
        cur = obs.nft.get(obj.name)
        return cur is not None, cur
    if isinstance(obj, Spreader):
        seen = obs.spreaders.get(obj.dev)
        return seen is not None, seen
    if isinstance(obj, Sysctl):
        val = obs.sysctls.get(obj.path)
        return val is not None, Sysctl(obj.path, val) if val is not None else None
    raise TypeError(obj)


def diff(desired: Sequence[KObject], obs: Observed) -> List[Op]:
    ops: List[Op] = []
    for obj in desired:
        exists, cur = _current(obj, obs)
        if isinstance(obj, (LinkAttrs, Sysctl)):
            if cur != obj:
                ops.append(Op("set", obj, cur))
        elif isinstance(obj, NftTable):
            if cur is None:
                ops.append(Op("add", obj))
            elif cur.digest != obj.digest or not same_contents(cur.script, obj.script):
                ops.append(Op("set", obj, cur))
        elif isinstance(obj, Spreader):
            if cur is None:
                ops.append(Op("add", obj))
            elif cur != obj or not _steers(cur):
                ops.append(Op("set", obj, cur))
        elif isinstance(obj, Route) and exists and cur != obj:
            ops.append(Op("set", obj, cur))     # ip route replace
        elif not exists:
            ops.append(Op("add", obj))
    return ops


def stale(cfg: OverlayConfig, desired: Sequence[KObject], obs: Observed,
          made: Sequence[Op] = ()) -> List[Op]:
    """What this overlay made earlier that the config no longer wants.

    The record says what this overlay made; the marks catch the rest in its own
    tables and on its own device when the record is lost.
    """
    want = {o.key() for o in desired}
    ours = set(cfg.tables)
    ops: List[Op] = []
    seen_keys = set()

    def drop(obj: KObject) -> None:
        if obj.key() not in want and obj.key() not in seen_keys:
            seen_keys.add(obj.key())
            ops.append(Op("del", obj))

    for op in made:
        if op.action == "add" and _current(op.obj, obs)[0]:
            drop(op.obj)
        elif op.action == "set" and op.obj.key() not in want and op.old is not None:
            exists, cur = _current(op.obj, obs)
            if exists and cur != op.old:
                ops.append(Op("set", op.old, cur))
    # Only this family's: both families of a device share its tables (and rule priority).
    for seen in obs.routes:
        r = seen.route
        if seen.proto == RTPROT_IFAGG and r.family == _family(cfg) and (
                r.table in ours or (r.table == MAIN_TABLE and r.dev == cfg.iface)):
            drop(r)
    for seen in obs.rules:
        if seen.proto == RTPROT_IFAGG and seen.rule.family == _family(cfg) and (
                seen.rule.table in ours or seen.rule.fwmark in ours):
            drop(seen.rule)
    # Removing the marking first stops packets towards tables about to change.
    return sorted(ops, key=lambda op: not isinstance(op.obj, (NftTable, Spreader)))


def plan_up(cfg: OverlayConfig, obs: Observed,
            raw: Optional[Mapping[str, RawOption]] = None,
            made: Sequence[Op] = (),
            learned: Optional[learned_hops.Learned] = None) -> Tuple[List[Op], Desired]:
    """The changes that bring the kernel to the config; `made` is this overlay's record."""
    check_conflicts(cfg, obs, raw)
    desired = desired_state(cfg, obs, raw, learned)
    # Stale objects go first: a changed table list must free its marks before reuse.
    return stale(cfg, desired.objects, obs, made) + diff(desired.objects, obs), desired


def _steers(seen: Spreader) -> bool:
    """Every peer has a run somewhere (the monitor never writes all zeros)."""
    return all(any(run for _, _, run in paths) for _, _, paths in seen.live or seen.peers)

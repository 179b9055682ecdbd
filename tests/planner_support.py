"""Builds Observed snapshots from the short form used by tests/planner/*/case.json."""

from ifupdown_agg.core.ops import Op
from ifupdown_agg.core.objects import from_json
from ifupdown_agg.core.objects import (LinkInfo, NftTable, Spreader, Observed, Route, Rule, SeenRoute,
                                       SeenRule)


def observed_from(short: dict) -> Observed:
    obs = Observed()
    names = set(short.get("addrs", {})) | set(short.get("links", {})) | set(short.get("speeds", {}))
    for index, name in enumerate(sorted(names), 2):
        extra = dict(short.get("links", {}).get(name, {}))
        extra.setdefault("mtu", 1500)       # a link always has one
        obs.links[name] = LinkInfo(name=name, index=index, up=extra.pop("up", True),
                                   speed=short.get("speeds", {}).get(name), **extra)
        for cidr in short.get("addrs", {}).get(name, []):
            addr, plen = cidr.split("/")
            obs.links[name].addrs.append((addr, int(plen)))
    for r in short.get("routes", []):
        r = dict(r)
        proto = r.pop("proto")
        obs.routes.append(SeenRoute(Route(**r), proto))
    for r in short.get("rules", []):
        r = dict(r)
        proto = r.pop("proto")
        obs.rules.append(SeenRule(Rule(**r), proto))
    for name, digest in short.get("nft", {}).items():
        obs.nft[name] = NftTable(name, digest, "")
    for dev, peers in short.get("spreaders", {}).items():
        obs.spreaders[dev] = Spreader(dev, peers)
    obs.bpf_program = short.get("bpf_program")
    obs.tcx = bool(short.get("tcx"))
    # A fresh namespace's defaults, unless the case says otherwise.
    obs.sysctls = {f"net/ipv4/conf/{d}/rp_filter": "0" for d in ["all"] + sorted(short.get("addrs", {}))}
    obs.sysctls.update(short.get("sysctls", {}))
    return obs


def made_from(short: list) -> list:
    """The state record of a case: objects an earlier ifup added."""
    return [Op("add", from_json(obj)) for obj in short]

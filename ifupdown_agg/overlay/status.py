"""`ifagg status`: per link and per (peer, link) path, what is carried and how healthy."""

from __future__ import annotations

import datetime
import json
import sys
import time
from typing import Dict, List, Tuple

from ifupdown_agg.monitor import service as monitor
from ifupdown_agg.overlay import lifecycle as overlay, plan, tunnels
from ifupdown_agg.kernel.netlink import Kernel
from ifupdown_agg.core.objects import Route
from ifupdown_agg.overlay.nft_ruleset import counter_name, reduce_weights


def _loaded(name: str, interfaces: str) -> overlay.Loaded:
    """The stanza NAME (tun0, or tun0.inet6 for its inet6 one) as it is up, or as the
    file has it."""
    raw = monitor.load_options(name)       # what the overlay is up with, if it is up
    if not raw:
        return overlay.from_file(name, interfaces)
    iface, family = overlay.split_key(name)
    return overlay.from_raw(iface, raw, family)


def _shares(tables: List[int], weights: Dict[int, int]) -> Dict[int, float]:
    reduced = reduce_weights([weights[t] for t in tables])
    return {t: w / sum(reduced) for t, w in zip(tables, reduced)}


def _counters(kernel: Kernel, cfg, mode: str, obs) -> Tuple[bool, Dict[str, Dict[str, int]]]:
    """(is the marking in place, packets and bytes by nft counter name)."""
    if mode == "nft":
        up = cfg.nft_table in obs.nft
        return up, kernel.counters(cfg.nft_table) if up else {}
    if cfg.iface not in obs.spreaders:
        return False, {}
    steering = kernel.steering(cfg.iface)
    try:
        counters = {}
        for index, _ in cfg.peer_indexes:
            per_path = steering.counters(index, len(cfg.tables))
            for t, (packets, nbytes) in zip(cfg.tables, per_path):
                counters[counter_name(index, t)] = {"packets": packets, "bytes": nbytes}
        return True, counters
    finally:
        steering.close()


def _live_shares(seen, cfg) -> Dict[Tuple[int, int], float]:
    """(peer index, table) -> the share of the peer's bytes its run gets now (bpf)."""
    out: Dict[Tuple[int, int], float] = {}
    for _, slot, paths in ((seen.live or seen.peers) if seen else ()):
        cycle = sum(run for _, _, run in paths)
        for t, (_, _, run) in zip(cfg.tables, paths):
            out[(slot, t)] = run / cycle if cycle else 0.0
    return out


def _tunnels(cfg, desired, obs) -> Dict:
    """What a tunnel over the overlay may use, the tunnels riding on it, their notes."""
    from ifupdown_agg.kernel import tunnels as observed
    carried, riding, notes, warnings = tunnels.judge(cfg, desired, obs, observed.observe())
    return {"tunnel_mtu": carried,
            "tunnels": [{"name": t.name, "kind": t.kind, "mtu": t.mtu, "local": t.local,
                         "remote": t.remote} for t in riding],
            "tunnel_notes": notes + warnings}


def _links(cfg, desired, counters, weights) -> List[Dict]:
    links = []
    for m in desired.members:
        pk = [counters.get(counter_name(i, m.table), {}) for i, _ in cfg.peer_indexes]
        links.append({"table": m.table, "dev": m.dev, "local": m.local, "weight": m.weight,
                      "rotation_share": round(_shares(list(cfg.tables), weights)[m.table], 4),
                      "packets": sum(c.get("packets", 0) for c in pk),
                      "bytes": sum(c.get("bytes", 0) for c in pk)})
    total = sum(ln["packets"] for ln in links)
    for ln in links:
        ln["carried_share"] = round(ln["packets"] / total, 4) if total else 0.0
    return links


def collect(kernel: Kernel, iface: str, interfaces: str) -> Dict:
    loaded = _loaded(iface, interfaces)
    cfg = loaded.cfg
    obs = kernel.observe()
    desired = plan.desired_state(cfg, obs, loaded.raw)
    up, counters = _counters(kernel, cfg, desired.spread, obs)
    # The device's BPF spreader is its inet stanza's: an inet6 one (nft) reads none of it.
    seen = obs.spreaders.get(cfg.iface) if desired.spread == "bpf" else None
    live = _live_shares(seen, cfg)
    weights = {m.table: m.weight for m in desired.members}
    health = monitor.load_health(iface) or {}
    # Out of the rotation: down, or drained (up, one interval short of down: monitor/health.py).
    out_of_rotation = {(p["peer"], t): p for p in health.get("paths", [])
                       if p["state"] == "down" or p.get("drained") for t in p["tables"]}
    all_paths = {(p["peer"], t): p for p in health.get("paths", []) for t in p["tables"]}

    links, peers = _links(cfg, desired, counters, weights), []
    member_dev = {m.table: m.dev for m in desired.members}
    for index, virt in cfg.peer_indexes:
        routes = {o.table: o for o in desired.objects if isinstance(o, Route)
                  and o.dst == f"{virt}/{cfg.host_prefix}"}
        routed = [t for t in cfg.tables if t in routes]
        alive = [t for t in routed if (virt, t) not in out_of_rotation] or routed
        shares = _shares(alive, weights) if alive else {}
        rows = []
        for t in cfg.tables:
            c = counters.get(counter_name(index, t), {})
            p = all_paths.get((virt, t), {})
            route = routes.get(t)       # none: a learned hop not yet known (learning)
            rows.append({"table": t, "dev": route.dev if route else member_dev[t],
                         "via": route.gateway if route else None,
                         "health": "learning" if route is None else
                         ("drained" if p.get("drained") else p.get("state", "unmonitored"))
                         if health else "unmonitored",
                         "since": p.get("since"), "reason": p.get("drained") or p.get("reason", ""),
                         "share_why": p.get("share_why", ""),
                         "weight": weights[t],
                         "rotation_share": round(live.get((index, t), shares.get(t, 0.0)), 4),
                         "packets": c.get("packets", 0), "bytes": c.get("bytes", 0),
                         "rejected": p.get("rejected", {}), "rtt_us": p.get("rtt_us"),
                         "rx_excess_us": p.get("rx_excess_us"),
                         "tx_excess_us": p.get("tx_excess_us")})
        peers.append({"peer": virt, "probed": virt in health.get("probed_peers", []), "paths": rows,
                      "hellos_ms": health.get("hellos_ms", {}).get(virt)})
    riding = _tunnels(cfg, desired, obs)
    return {"iface": iface, "up": up, "address": cfg.address, "fakenet": cfg.fakenet,
            "spread": desired.spread, "tunnel_mtu": riding["tunnel_mtu"],
            "pace_mbit": _pace(seen),
            "queue_meters": [{"dev": d, "mbit": r} for d, r in getattr(seen, "meters", ())],
            "tunnels": riding["tunnels"],
            "monitor": {"running": bool(monitor.running_pid(iface)),
                        "interval_ms": cfg.monitor.interval_ms, "loss": cfg.monitor.loss,
                        "rejoin": cfg.monitor.rejoin,
                        "idle_interval_ms": health.get("idle_interval_ms") if health else None,
                        "idle_wake": health.get("idle_wake") if health else None,
                        "idle_wakes": health.get("idle_wakes", 0) if health else 0,
                        "authenticated": health.get("authenticated") if health else None,
                        "key_file": health.get("key_file", cfg.monitor.key_file),
                        "rejected_stray": health.get("rejected_stray", {})},
            "links": links, "peers": peers, "notes": desired.notes + riding["tunnel_notes"]}


def _pace(seen) -> Dict:
    """The pacing hop's planned rate and the rate it runs at now (lower while paths are
    down or busy); zeros when not paced."""
    return {"planned": seen.pace if seen else 0, "live": seen.live_pace if seen and seen.pace else 0}


def _when(ts) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-"


def _rejected(counts: Dict[str, int]) -> str:
    """"3 bad MAC, 1 replay": rejected hellos by why (monitor/probe.py REJECT_REASONS)."""
    names = {"mac": "bad MAC", "ttl": "TTL < 255", "version": "unknown version",
             "source": "from an unknown address", "family": "of the other address family"}
    return ", ".join(f"{n} {names.get(why, why)}" for why, n in sorted(counts.items()) if n)


def _paced(st: Dict) -> str:
    pace = st.get("pace_mbit") or {}
    if not pace.get("planned"):
        return ""
    now = "" if pace["live"] == pace["planned"] else f", now {pace['live']}"
    return f" paced at {pace['planned']} Mbit/s{now}"


def _metered(st: Dict) -> str:
    found = st.get("queue_meters") or []
    return f", queues metered on {', '.join(m['dev'] for m in found)}" if found else ""


def _idle(st: Dict) -> str:
    """", 12 of 32 idle peers every 1000 ms" (monitor/demand.py), or nothing."""
    idle_ms = st["monitor"].get("idle_interval_ms")
    if not idle_ms:
        return ""
    slow = sum(p.get("hellos_ms") == idle_ms for p in st["peers"])
    woken = ", woken by the spreader" if st["monitor"].get("idle_wake") == "spreader" else ""
    return f", {slow} of {len(st['peers'])} idle peer(s) every {idle_ms} ms{woken}"


def render(st: Dict) -> str:
    mon = st["monitor"]
    out = [f"{st['iface']}: {'up' if st['up'] else 'DOWN'}, {st['address']} in {st['fakenet']}, "
           f"{len(st['peers'])} peer(s), spread by {st.get('spread', 'nft')}{_paced(st)}"
           f"{_metered(st)}, monitor "
           + (f"running (probes every {mon['interval_ms']} ms{_idle(st)}, down after {mon['loss']} "
              f"lost, back after {mon['rejoin']} good)" if mon["running"] else "not running")]
    out.append(f"  {'link':<10} {'table':>6} {'weight':>7} {'rotation':>8} {'carried':>8} "
               f"{'packets':>11} {'bytes':>14}")
    for ln in st["links"]:
        out.append(f"  {ln['dev']:<10} {ln['table']:>6} {ln['weight']:>7} {ln['rotation_share']:>8.1%} "
                   f"{ln['carried_share']:>8.1%} {ln['packets']:>11} {ln['bytes']:>14}")
    out.append(f"  {'peer':<16} {'link':<10} {'via':<16} {'health':<11} {'since':>8} {'rotation':>8} "
               f"{'packets':>11} {'bytes':>14}  reason")
    for peer in st["peers"]:
        for row in peer["paths"]:
            out.append(f"  {peer['peer']:<16} {row['dev']:<10} {row['via'] or '-':<16} {row['health']:<11} "
                       f"{_when(row['since']):>8} {row['rotation_share']:>8.1%} {row['packets']:>11} "
                       f"{row['bytes']:>14}  {row['reason']}"
                       + (f"; {row['share_why']}" if row.get("share_why") else "")
                       + (f" [rejected: {_rejected(row['rejected'])}]" if row.get("rejected") else ""))
    if mon["running"] and mon.get("authenticated") is False:
        out.append(f"  warning: hellos are UNAUTHENTICATED (no key file {mon['key_file']}): "
                   "any host on a member link's segment can forge them; `ifagg keygen` writes one")
    if mon.get("rejected_stray"):
        out.append(f"  rejected hellos from no known path: {_rejected(mon['rejected_stray'])}")
    if st.get("tunnel_mtu"):
        out.append(f"  a tunnel over {st['iface']} may send packets of up to {st['tunnel_mtu']} "
                   f"bytes (VXLAN device MTU <= {st['tunnel_mtu'] - 50})"
                   + "".join(f"; riding: {t['name']} ({t['kind']}, MTU {t['mtu']})"
                             for t in st.get("tunnels", [])))
    out += [f"  note: {n}" for n in st["notes"]]
    return "\n".join(out)


JSON_VERSION = 1


def json_text(stats, stream: bool) -> str:
    """One object (the schema: ifupdown_agg/cli/schemas.py); with --watch, one per line."""
    doc = {"version": JSON_VERSION, "time": round(time.time(), 3), "overlays": stats}
    return json.dumps(doc, separators=(",", ":")) if stream else json.dumps(doc, indent=2)


def run(args, names: List[str]) -> int:
    """Show NAMES (the cli resolves the default, every overlay stanza)."""
    rounds = args.count if args.watch else 1
    for n in range(rounds):                     # bounded by --count
        kernel = Kernel()
        try:
            stats = [collect(kernel, name, args.interfaces) for name in names]
        finally:
            kernel.close()
        text = json_text(stats, args.watch) if args.json else (
            "\n\n".join(render(s) for s in stats) or "no overlay stanzas")
        if args.watch and not args.json and sys.stdout.isatty():
            sys.stdout.write("\033[H\033[2J")  # redraw in place, on a terminal only
        print(text, flush=True)
        if n + 1 < rounds:
            time.sleep(args.interval)
    return 0 if all(s["up"] for s in stats) else 1

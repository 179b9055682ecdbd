"""`ifagg status`: what each member link carries, against its share of the rotation."""

from __future__ import annotations

import json
from typing import Dict, List

from . import overlay, plan
from .cli import _overlay_names
from .kernel import Kernel
from .nft_ruleset import reduce_weights


def collect(kernel: Kernel, iface: str, interfaces: str) -> Dict:
    loaded = overlay.from_file(iface, interfaces)
    cfg = loaded.cfg
    obs = kernel.observe()
    desired = plan.desired_state(cfg, obs, loaded.raw)
    up = cfg.nft_table in obs.nft
    counters = kernel.counters(cfg.nft_table) if up else {}
    weights = reduce_weights([m.weight for m in desired.members])
    total_w = sum(weights)
    total_pkts = sum(c.get("packets", 0) for c in counters.values()) or 0
    links: List[Dict] = []
    for m, w in zip(desired.members, weights):
        c = counters.get(f"table {m.table} dev {m.dev}", {})
        pkts = c.get("packets", 0)
        links.append({
            "table": m.table, "dev": m.dev, "local": m.local, "weight": w,
            "rotation_share": round(w / total_w, 4),
            "packets": pkts, "bytes": c.get("bytes", 0),
            "carried_share": round(pkts / total_pkts, 4) if total_pkts else 0.0,
        })
    return {"iface": iface, "up": up, "address": cfg.address, "fakenet": cfg.fakenet,
            "peers": [p.virt for p in cfg.peers], "links": links, "notes": desired.notes}


def render(st: Dict) -> str:
    out = [f"{st['iface']}: {'up' if st['up'] else 'DOWN'}  {st['address']} in {st['fakenet']}, "
           f"{len(st['peers'])} peer(s)"]
    out.append(f"  {'table':>6} {'dev':<12} {'weight':>6} {'rotation':>8} {'carried':>8} "
               f"{'packets':>12} {'bytes':>14}")
    for ln in st["links"]:
        out.append(f"  {ln['table']:>6} {ln['dev']:<12} {ln['weight']:>6} "
                   f"{ln['rotation_share']:>8.1%} {ln['carried_share']:>8.1%} "
                   f"{ln['packets']:>12} {ln['bytes']:>14}")
    out += [f"  note: {n}" for n in st["notes"]]
    return "\n".join(out)


def run(args) -> int:
    kernel = Kernel()
    try:
        stats = [collect(kernel, name, args.interfaces)
                 for name in _overlay_names(args.interfaces, args.iface)]
    finally:
        kernel.close()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print("\n\n".join(render(s) for s in stats) or "no overlay stanzas")
    return 0 if all(s["up"] for s in stats) else 1

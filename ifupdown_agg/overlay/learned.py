"""Learned next hops: the peers' link-local addresses the monitor took from their hellos.

An inet6 rspec hop written as a NIC's name, `[eth1]`, is learned: the peer's link-local
address on the link of that position, which this host reaches through its own NIC of
that position. The monitor learns it from the peer's authenticated hellos
(monitor/learn.py) and keeps it here, <state>/<stanza key>.learned.json (tun0.inet6's is
tun0.inet6.learned.json), so the planner routes the peer through it: `ifup`, `ifagg
check` and the monitor's own route repair plan the same routes, and a learned route is
no drift. Until a hop is learned its path has no route and is out of the rotation.

The file holds {"version": 1, "hops": [{"virt": ..., "dev": ..., "hop": ...}, ...]},
`dev` being this host's NIC; ifdown removes it with the record (the routes go with the
record, which holds them).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Dict, Mapping, Tuple

from ifupdown_agg.core import record

VERSION = 1
SUFFIX = "learned.json"

# (peer's virtual address, this host's NIC) -> the peer's link-local address there
Learned = Dict[Tuple[str, str], str]


def path_for(key: str) -> str:
    return os.path.join(record.STATE_DIR, f"{key}.{SUFFIX}")


def decode(data) -> Learned:
    """The hops of a learned file's JSON; anything malformed is left out, not fatal
    (a hop not learned is only a path out of the rotation until the next hello)."""
    out: Learned = {}
    hops = data.get("hops") if isinstance(data, dict) and data.get("version") == VERSION else None
    for item in hops if isinstance(hops, list) else []:
        if isinstance(item, dict) and all(isinstance(item.get(k), str) and item.get(k)
                                          for k in ("virt", "dev", "hop")):
            out[(item["virt"], item["dev"])] = item["hop"]
    return out


def encode(learned: Mapping[Tuple[str, str], str]) -> dict:
    return {"version": VERSION,
            "hops": [{"virt": v, "dev": d, "hop": h} for (v, d), h in sorted(learned.items())]}


def load(key: str) -> Learned:
    try:
        with open(path_for(key)) as fh:
            return decode(json.load(fh))
    except (OSError, ValueError):
        return {}


def save(key: str, learned: Mapping[Tuple[str, str], str]) -> None:
    """Written whole and renamed into place: a reader sees the old file or the new one."""
    os.makedirs(record.STATE_DIR, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=record.STATE_DIR, prefix=f".{key}.")   # as record.save
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(encode(learned), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path_for(key))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove(key: str) -> None:
    try:
        os.unlink(path_for(key))
    except FileNotFoundError:
        pass


def pending_note(virt: str, written: str, dev: str, table: int) -> str:
    return (f"learned from hellos: hop of {virt} on {dev} ([{written}]) not yet known; "
            f"table {table} has no route to it until the monitor learns it")

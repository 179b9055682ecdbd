"""What ifup changed, kept as JSON under /run so ifdown can undo exactly that.

The marks on kernel objects (see kobjects) make cleanup possible without this
file; the file is what lets ifdown restore values it replaced (rp_filter, the
GSO limit) and leave alone what existed before ifup.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import List

from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.core.objects import from_json

STATE_DIR = os.environ.get("IFUPDOWN_AGG_STATE_DIR", "/run/ifupdown-agg")
VERSION = 1


def path_for(iface: str) -> str:
    return os.path.join(STATE_DIR, f"{iface}.json")


def load(iface: str) -> List[Op]:
    try:
        with open(path_for(iface)) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []   # unreadable state: ifdown falls back to the marks
    if data.get("version") != VERSION:
        return []
    return [Op(o["action"], from_json(o["obj"]), from_json(o["old"]) if o["old"] else None)
            for o in data.get("made", [])]


def save(iface: str, made: List[Op]) -> None:
    os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)
    data = {"version": VERSION, "iface": iface, "made": [op.to_json() for op in made]}
    fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=f".{iface}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.write("\n")
    os.replace(tmp, path_for(iface))


def keys() -> List[str]:
    """Every name with a record in the state directory."""
    try:
        entries = os.listdir(STATE_DIR)
    except OSError:
        return []
    return sorted(e[:-5] for e in entries
                  if e.endswith(".json") and "." not in e[:-5] and not e.startswith("."))


def remove(iface: str) -> None:
    """The record, and any half-written copy a killed save() left behind."""
    try:
        names = [n for n in os.listdir(STATE_DIR) if n.startswith(f".{iface}.")]
    except OSError:
        names = []
    for name in [os.path.basename(path_for(iface))] + names:
        try:
            os.unlink(os.path.join(STATE_DIR, name))
        except FileNotFoundError:
            pass


def merge(made: List[Op], applied: List[Op]) -> List[Op]:
    """Fold newly applied ops into the record, keyed by obj.key(): a del cancels the
    add it undoes, an add of something recorded already is not recorded twice (an
    `ifagg up` that repairs a rule removed by hand), a set of what we added stays an
    add, and any other set keeps the first value it replaced."""
    out = list(made)

    def recorded(action, key):
        return [i for i, m in enumerate(out) if m.action is action and m.obj.key() == key]

    for op in applied:
        key = op.obj.key()
        if op.action is Action.DEL:
            adds = recorded(Action.ADD, key)
            if adds:
                del out[adds[-1]]
            continue    # deleting what we did not record leaves nothing to undo
        if op.action is Action.ADD:
            same = recorded(Action.ADD, key)
            if same:
                out[same[-1]] = op      # the newest value, once
                continue
        if op.action is Action.SET and recorded(Action.ADD, key):
            # A set of what we added (a route replaced, our nft table rewritten) is still
            # ours: ifdown deletes it, with nothing of before to restore.
            out[recorded(Action.ADD, key)[-1]] = Op(Action.ADD, op.obj)
            continue
        if op.action is Action.SET:
            earlier = recorded(Action.SET, key)
            if earlier:
                # Keep the first value we replaced, so ifdown restores the original.
                first = out[earlier[0]]
                if op.obj == first.old:
                    del out[earlier[0]]    # back to the original: nothing to restore
                else:
                    out[earlier[0]] = Op(Action.SET, op.obj, first.old)
                continue
        out.append(op)
    return out

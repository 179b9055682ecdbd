"""Data-driven planner cases: one folder per case under tests/planner/.

Each folder holds `interfaces` (the stanzas), `case.json` (the overlay to plan
the kernel as observed, in the short form of planner_support, and optionally
`made`, the state record of an earlier ifup) and the
expected result: `plan.txt` (one change per line, nft scripts in full) or
`error.txt` (the exact message); `family` picks the stanza (inet, or inet6); `learned`
lists the hops learned from hellos, [[VIRT, DEV, HOP], ...] (the learned file's content). IFAGG_REGEN_GOLDEN=1 rewrites the expectations.
"""

import json
import os

import pytest

from conftest import golden
from planner_support import made_from, observed_from

from ifupdown_agg.overlay import lifecycle as overlay, plan
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.core.objects import NftTable, Spreader

CASES_DIR = os.path.join(os.path.dirname(__file__), "planner")
CASES = sorted(d for d in os.listdir(CASES_DIR) if os.path.isdir(os.path.join(CASES_DIR, d)))


def render(ops, desired) -> str:
    lines = [f"# note: {n}" for n in desired.notes]
    lines += [f"# member table {m.table}: dev {m.dev} local {m.local} weight {m.weight}"
              for m in desired.members]
    for op in ops:
        lines.append(f"{op.action} {op.describe()}")
        if isinstance(op.obj, NftTable) and op.action != "del":
            lines += ["    " + ln for ln in op.obj.script.rstrip("\n").splitlines()]
        if isinstance(op.obj, Spreader) and op.action != "del":
            lines += [f"    peer {virt} slot {slot}: " + ", ".join(f"{d} via {g} run {r}"
                                                              for d, g, r in paths)
                      for virt, slot, paths in op.obj.peers]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", CASES)
def test_planner_case(case):
    folder = os.path.join(CASES_DIR, case)
    with open(os.path.join(folder, "case.json")) as fh:
        spec = json.load(fh)
    obs = observed_from(spec.get("observed", {}))
    try:
        loaded = overlay.from_file(spec.get("iface", "tun0"), os.path.join(folder, "interfaces"),
                                   spec.get("family", "inet"))
        learned = {(v, d): h for v, d, h in spec.get("learned", [])}
        ops, desired = plan.plan_up(loaded.cfg, obs, loaded.raw, made_from(spec.get("made", [])),
                                    learned)
    except ConfigError as err:
        assert not os.path.exists(os.path.join(folder, "plan.txt")), f"unexpected error: {err}"
        golden(os.path.join(folder, "error.txt"), str(err).replace(folder + os.sep, "") + "\n")
        return
    assert not os.path.exists(os.path.join(folder, "error.txt")), "expected an error"
    golden(os.path.join(folder, "plan.txt"), render(ops, desired))

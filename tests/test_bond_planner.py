"""Data-driven bond plans: one folder per case under tests/bond_planner/.

Each folder holds `interfaces` (the stanzas), `case.json` ("iface": the stanza
to plan, "observed": the kernel in planner_support's short form, where a link
may carry kind, master, up and bond, the bond's attributes by kernel name) and
the expected `plan.txt` (warnings as '# warning:' lines, then one change per
line) or `error.txt`. IFAGG_REGEN_GOLDEN=1 rewrites the expectations.
"""

import json
import os

import pytest

from conftest import golden
from planner_support import observed_from

from ifupdown_agg.bond import plan as bond_plan
from ifupdown_agg.config import ifaces_file
from ifupdown_agg.errors import ConfigError

CASES_DIR = os.path.join(os.path.dirname(__file__), "bond_planner")
CASES = sorted(d for d in os.listdir(CASES_DIR) if os.path.isdir(os.path.join(CASES_DIR, d)))


@pytest.mark.parametrize("case", CASES)
def test_bond_plan_case(case):
    folder = os.path.join(CASES_DIR, case)
    with open(os.path.join(folder, "case.json")) as fh:
        spec = json.load(fh)
    obs = observed_from(spec.get("observed", {}))
    path = os.path.join(folder, "interfaces")
    try:
        parsed = ifaces_file.read(path)
        stanza = parsed.find(spec["iface"])

        def master(name):
            found = parsed.find(name)
            return found.options if found else None

        plan, cfg, mode = bond_plan.plan_stanza(spec["iface"], stanza.options, obs, master, path)
    except ConfigError as err:
        assert not os.path.exists(os.path.join(folder, "plan.txt")), f"unexpected error: {err}"
        golden(os.path.join(folder, "error.txt"), str(err).replace(folder + os.sep, "") + "\n")
        return
    assert not os.path.exists(os.path.join(folder, "error.txt")), "expected an error"
    lines = [f"# bond {cfg.name}, mode {mode}, preflight {cfg.preflight}"]
    lines += [f"# warning: {w}" for w in cfg.ignored]
    lines += [f"{op.action} {op.describe()}" for op in plan.ops]
    golden(os.path.join(folder, "plan.txt"), "\n".join(lines) + "\n")

"""Every planner case with a plan, run through the in-memory kernel (no root).

For each case of tests/planner/ (overlay) and tests/bond_planner/ that has a
plan.txt: applying the plan and planning again changes nothing; ifup then
ifdown gives back the kernel as it was (less our own stale objects the ifup
removed); and a failure injected at any op of the ifup leaves the kernel as it
was, through the executor's rollback. The lifecycles run as ifup and ifdown
run them, with the record in a temporary directory and no monitor.
"""

import contextlib
import json
import os

import pytest

from planner_support import made_from, observed_from

from ifupdown_agg.bond import lifecycle as bond_lifecycle, plan as bond_plan
from ifupdown_agg.config import ifaces_file
from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RealExecutor, RecordingExecutor
from ifupdown_agg.core.memory import MemoryKernel, kernel_objects
from ifupdown_agg.core.objects import (RTPROT_IFAGG, Address, Bond, BondSettings, Enslave,
                                       LinkAttrs, NftTable, Route, Rule, SeenRoute, SeenRule,
                                       TunDevice)
from ifupdown_agg.core.ops import Op
from ifupdown_agg.errors import ApplyError
from ifupdown_agg.overlay import learned, lifecycle as overlay_lifecycle

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDERS = {"overlay": "planner", "bond": "bond_planner"}


def _case_ids():
    for wing, folder in FOLDERS.items():
        base = os.path.join(HERE, folder)
        for name in sorted(os.listdir(base)):
            if os.path.exists(os.path.join(base, name, "plan.txt")):
                yield f"{wing}/{name}"


CASES = list(_case_ids())

# Known bugs outside this harness, by test and case; drop an entry once its fix is merged.
KNOWN: dict = {}


def _params(test):
    return [pytest.param(c, id=c, marks=pytest.mark.xfail(strict=False, reason=KNOWN[test, c]))
            if (test, c) in KNOWN else pytest.param(c, id=c) for c in CASES]


class _NoMonitor:
    """The monitor daemon is no part of these round trips."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class OverlayCase:
    def __init__(self, folder, spec):
        path = os.path.join(folder, "interfaces")
        self.loaded = overlay_lifecycle.from_file(spec.get("iface", "tun0"), path,
                                                      spec.get("family", "inet"))
        self.iface, self.family = self.loaded.cfg.iface, self.loaded.cfg.family
        self.made = made_from(spec.get("made", []))
        self.learned = {(v, d): h for v, d, h in spec.get("learned", [])}

    def reset(self):
        record.remove(self.loaded.cfg.key)
        if self.made:
            record.save(self.loaded.cfg.key, self.made)
        if self.learned:        # the hops the monitor learned (overlay/learned.py)
            learned.save(self.loaded.cfg.key, self.learned)

    def up(self, kernel, executor):
        return overlay_lifecycle.up(self.loaded, kernel, executor)[0]

    def down(self, kernel):
        overlay_lifecycle.down(self.iface, kernel, RealExecutor(kernel), self.loaded.cfg,
                               family=self.family)


class BondCase:
    def __init__(self, folder, spec):
        self.path = os.path.join(folder, "interfaces")
        self.iface = spec["iface"]
        self.raw = ifaces_file.read(self.path).find(self.iface).options
        cfg, port = bond_plan.bond_from_options(self.iface, self.raw)
        self.bond = cfg.name if cfg else port.master
        self.said = []

    def reset(self):
        for name in {self.iface, self.bond}:
            record.remove(name)

    def up(self, kernel, executor):
        return bond_lifecycle.up(self.iface, self.raw, kernel, executor, self.said.append,
                                 self.path)

    def down(self, kernel):
        """ifdown of the stanza, then of the bond if the stanza's ifup recorded it."""
        bond_lifecycle.down(self.iface, kernel, RealExecutor(kernel))
        if self.bond != self.iface and record.load(self.bond):
            bond_lifecycle.down(self.bond, kernel, RealExecutor(kernel))


@pytest.fixture
def case(request, tmp_path, monkeypatch):
    """(the case's lifecycle, its kernel snapshot), with the record under tmp_path."""
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(overlay_lifecycle, "monitor", _NoMonitor())
    monkeypatch.setattr(bond_lifecycle, "_realtek_usb", lambda ports: {p: False for p in ports})
    wing, name = request.param.split("/")
    folder = os.path.join(HERE, FOLDERS[wing], name)
    with open(os.path.join(folder, "case.json")) as fh:
        spec = json.load(fh)
    lifecycle = (OverlayCase if wing == "overlay" else BondCase)(folder, spec)
    lifecycle.reset()
    return lifecycle, observed_from(spec.get("observed", {}))


def _cleared(ops):
    """Our stale objects an ifup deleted and did not put back: ifdown rightly leaves them gone."""
    added = {op.obj for op in ops if str(getattr(op.action, "value", op.action)) == "add"}
    gone = set()
    for op in ops:
        if str(getattr(op.action, "value", op.action)) != "del" or op.obj in added:
            continue
        if isinstance(op.obj, Route):
            gone.add(SeenRoute(op.obj, RTPROT_IFAGG))
        elif isinstance(op.obj, Rule):
            gone.add(SeenRule(op.obj, RTPROT_IFAGG))
        elif isinstance(op.obj, (NftTable, Address)):
            gone.add(op.obj)
    return gone


@pytest.mark.parametrize("case", _params("replan"), indirect=True)
def test_planning_again_after_the_plan_changes_nothing(case):
    lifecycle, start = case
    kernel = MemoryKernel(start)
    lifecycle.up(kernel, RealExecutor(kernel))
    again = lifecycle.up(kernel, RecordingExecutor())
    assert [op.describe() for op in again] == []


@pytest.mark.parametrize("case", _params("updown"), indirect=True)
def test_up_then_down_gives_back_the_kernel(case):
    lifecycle, start = case
    kernel = MemoryKernel(start)
    before = kernel_objects(kernel.observe())
    ops = lifecycle.up(kernel, RealExecutor(kernel))
    lifecycle.down(kernel)
    after = kernel_objects(kernel.observe())
    expected = before - _cleared(ops)
    assert (sorted(map(repr, expected - after)), sorted(map(repr, after - expected))) == ([], [])


@pytest.mark.parametrize("case", _params("rollback"), indirect=True)
def test_a_failure_at_any_op_leaves_the_kernel_as_it_was(case):
    lifecycle, start = case
    before = kernel_objects(MemoryKernel(start).observe())
    planned = lifecycle.up(MemoryKernel(start), RecordingExecutor())
    for k, op in enumerate(planned):
        lifecycle.reset()
        kernel = MemoryKernel(start, fail_at=k)
        with contextlib.suppress(ApplyError):
            lifecycle.up(kernel, RealExecutor(kernel))
        assert kernel.injected is op or kernel.injected == op, f"op {k} was not tried"
        after = kernel_objects(kernel.observe())
        assert (k, sorted(map(repr, before - after)), sorted(map(repr, after - before))) == (k, [], [])


# ---- the in-memory kernel itself: it refuses and cascades as the kernel does ----------

LAN = {"addrs": {"eth0": ["10.0.0.1/24"]}, "links": {"eth1": {}, "eth2": {}}}
VIA = Route(100, "10.9.0.2/32", "eth0", gateway="10.0.0.2")


def _refusal(kernel, op):
    done, err = kernel.apply_all([op])
    assert done == [] and err is not None
    return str(err)


def test_adding_what_exists_and_deleting_what_is_gone_are_refused():
    kernel = MemoryKernel(observed_from(LAN))
    assert kernel.apply_all([Op("add", VIA)]) == ([Op("add", VIA)], None)
    assert _refusal(kernel, Op("add", VIA)).endswith("File exists")
    assert _refusal(kernel, Op("del", Rule(7000, 100, 100))).endswith("No such file or directory")
    assert _refusal(kernel, Op("add", Address("eth9", "10.1.0.1"))).endswith("No such device")
    assert "Invalid argument" in _refusal(kernel, Op("add", Route(100, "10.9.0.3/32", "eth0",
                                                                  gateway="10.5.0.1")))


def test_a_device_takes_its_routes_and_ports_along():
    kernel = MemoryKernel(observed_from(LAN))
    ops = [Op("add", TunDevice("tun0")), Op("set", LinkAttrs("tun0", up=True)),
           Op("add", Route(254, "10.8.0.0/24", "tun0")), Op("add", Bond("bond0", "802.3ad")),
           Op("add", Enslave("eth1", "bond0"))]
    assert kernel.apply_all(ops) == (ops, None)
    assert kernel.observe().links["eth1"].master == "bond0"
    kernel.apply_all([Op("del", TunDevice("tun0")), Op("del", Bond("bond0"))])
    obs = kernel.observe()
    assert obs.routes == [] and "tun0" not in obs.links and obs.links["eth1"].master is None


def test_a_bond_refuses_down_only_and_portless_options_as_the_kernel_does():
    kernel = MemoryKernel(observed_from({"links": {"eth1": {"master": "bond0"}, "bond0": {
        "kind": "bond", "bond": {"mode": 4, "ad_lacp_rate": 0}}}}))
    assert _refusal(kernel, Op("set", BondSettings("bond0", (("ad_lacp_rate", 1),)))).endswith(
        "Device or resource busy")
    assert _refusal(kernel, Op("set", BondSettings("bond0", (("mode", 1),)))).endswith(
        "Directory not empty")
    assert _refusal(kernel, Op("set", BondSettings("bond0", (("primary", "eth1"),)))).endswith(
        "Permission denied")


def test_fail_at_counts_every_op_tried_and_a_route_batch_goes_on():
    routes = [Op("add", Route(100, f"10.9.0.{i}/32", "eth0", gateway="10.0.0.2"))
              for i in range(3)]
    kernel = MemoryKernel(observed_from(LAN), fail_at=1)
    done, err = kernel.apply_all(routes + [Op("add", Rule(7000, 100, 100))])
    assert "injected" in str(err) and kernel.injected is routes[1]
    assert done == [routes[0], routes[2]]    # as Kernel.apply_all: the batch's own answers

"""`ifagg try` on the in-memory kernel (no root): for every bond planner case, a try
that is not confirmed gives back exactly the kernel and the records it started from
(bond options that need the bond down or without ports included), and a confirmed one
keeps what `ifagg up` makes. Also the pending file and the waiter."""

import json
import os
import signal

import pytest

from planner_support import observed_from

from ifupdown_agg.bond import lifecycle as bond_lifecycle
from ifupdown_agg.cli import stanzas, try_
from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RealExecutor, RecordingExecutor
from ifupdown_agg.core.memory import MemoryKernel, kernel_objects
from ifupdown_agg.core.ops import Op
from ifupdown_agg.core.objects import BondSettings, Bond
from ifupdown_agg.errors import AggError

HERE = os.path.dirname(os.path.abspath(__file__))
BONDS = os.path.join(HERE, "bond_planner")
CASES = sorted(n for n in os.listdir(BONDS) if os.path.exists(os.path.join(BONDS, n, "plan.txt")))


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(bond_lifecycle, "_realtek_usb", lambda ports: {p: False for p in ports})
    return tmp_path


def load(name):
    with open(os.path.join(BONDS, name, "case.json")) as fh:
        spec = json.load(fh)
    return spec["iface"], os.path.join(BONDS, name, "interfaces"), observed_from(spec.get("observed", {}))


def files(tmp):
    return {p: open(os.path.join(tmp, p), "rb").read() for p in sorted(os.listdir(tmp))
            if p.endswith(".json")}


@pytest.mark.parametrize("name", CASES)
def test_an_unconfirmed_bond_try_gives_back_the_kernel_and_the_records(name, state):
    iface, path, start = load(name)
    kernel = MemoryKernel(start)
    targets = stanzas.ours(path, [iface])
    assert targets == [(iface, "bond")]
    before = kernel_objects(kernel.observe()), files(state)
    planned = RecordingExecutor()
    stanzas.up(iface, "bond", path, kernel, planned)
    code = try_.trial(targets, path, kernel, RealExecutor(kernel), lambda: (False, "test"))
    assert code == (1 if planned.ops else 0)
    assert (kernel_objects(kernel.observe()), files(state)) == before


@pytest.mark.parametrize("name", CASES)
def test_a_confirmed_bond_try_keeps_what_up_makes(name, state):
    iface, path, start = load(name)
    by_up = MemoryKernel(start)
    stanzas.up(iface, "bond", path, by_up, RealExecutor(by_up))
    wanted = kernel_objects(by_up.observe()), files(state)
    for entry in os.listdir(state):
        os.unlink(os.path.join(state, entry))
    kernel = MemoryKernel(start)
    assert try_.trial([(iface, "bond")], path, kernel, RealExecutor(kernel),
                      lambda: (True, "test")) == 0
    assert (kernel_objects(kernel.observe()), files(state)) == wanted


def test_a_value_set_with_nothing_to_put_back_is_refused_unless_the_plan_makes_it():
    lost = Op("set", BondSettings("bond0", (("miimon", 100),)))
    assert try_.unrestorable([lost]) == [lost.describe()]
    assert try_.unrestorable([Op("add", Bond("bond0", "802.3ad")), lost]) == []


def test_one_try_at_a_time_and_a_stale_pending_file_is_taken_over(state):
    try_.claim(["tun0"], 0)
    with pytest.raises(AggError, match="a try is already pending"):
        try_.claim(["tun1"], 0)
    with open(try_.pending_path(), "w") as fh:
        json.dump({"pid": 2 ** 22 + 1, "stanzas": ["tun0"]}, fh)     # no such process
    try_.claim(["tun1"], 0)
    assert try_.read_pending()["stanzas"] == ["tun1"]


def test_the_waiter_times_out_keeps_on_sigusr1_and_reverts_on_sighup():
    for signum, expected in ((None, False), (signal.SIGUSR1, True), (signal.SIGHUP, False)):
        waiter = try_.Waiter(0.3)
        try:
            if signum:
                os.kill(os.getpid(), signum)
            keep, why = waiter()
        finally:
            waiter.restore()
        assert keep is expected, why


def test_a_revert_leaves_alone_a_record_another_run_wrote_meanwhile(state):
    iface, path, start = load("bond-first-fresh")
    kernel = MemoryKernel(start)
    other = state / "tun9.json"

    def meanwhile():
        other.write_text('{"version": 1, "iface": "tun9", "made": []}\n')
        return False, "test"

    assert try_.trial([(iface, "bond")], path, kernel, RealExecutor(kernel), meanwhile) == 1
    assert other.exists() and not (state / f"{iface}.json").exists()


def test_reload_and_try_take_an_inet6_stanza_as_name_inet6_and_never_take_it_down(state):
    # Before: reload -a took the record tun0.inet6 for a stanza removed from the file.
    import argparse
    from ifupdown_agg.cli import reload
    case = os.path.join(HERE, "planner", "dual-stack-inet6-beside-inet")
    path = os.path.join(case, "interfaces")
    with open(os.path.join(case, "case.json")) as fh:
        kernel = MemoryKernel(observed_from(json.load(fh)["observed"]))
    assert stanzas.ours(path, [], only_auto=True) == [("tun0", "overlay"), ("tun0.inet6", "overlay")]
    assert stanzas.ours(path, ["tun0.inet6"]) == [("tun0.inet6", "overlay")]
    for name in ("tun0", "tun0.inet6"):
        stanzas.up(name, "overlay", path, kernel, RealExecutor(kernel))
    assert {"tun0.json", "tun0.inet6.json"} <= set(files(state))
    ups, gone = reload.targets(argparse.Namespace(interfaces=path, all=True, iface=[]))
    assert gone == [] and ("tun0.inet6", "overlay") in ups
    # Its down undoes the inet6 record only.
    made = stanzas.down("tun0.inet6", "overlay", kernel, RealExecutor(kernel))
    assert made and all(":" in str(op.describe()) for op in made if "route" in op.describe())
    assert "tun0.json" in files(state) and "tun0.inet6.json" not in files(state)

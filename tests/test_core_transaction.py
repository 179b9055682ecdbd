"""core.transaction: down goes on past a failure and records exactly what stays (pure)."""

import pytest

from ifupdown_agg.core import record, transaction
from ifupdown_agg.core.executor import RealExecutor
from ifupdown_agg.core.objects import Observed, Rule, TunDevice
from ifupdown_agg.core.ops import Op
from ifupdown_agg.errors import ApplyError


class FakeKernel:
    def __init__(self, fail_on=()):
        self.fail_on = set(fail_on)
        self.calls = []

    def observe(self):
        return Observed()

    def apply_all(self, ops):
        done = []
        for op in ops:
            if op in self.fail_on:
                return done, ApplyError(f"{op.describe()}: Device or resource busy")
            self.calls.append(op)
            done.append(op)
        return done, None


def undo_all(obs, made):
    return [op.inverse() for op in reversed(made)]


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))


def test_a_failed_del_keeps_its_entry_and_the_rest_goes(state_dir):
    made = [Op("add", TunDevice("tun0")), Op("add", Rule(100, 1, 17000)),
            Op("add", Rule(101, 2, 17001))]
    record.save("tun0", made)
    kernel = FakeKernel(fail_on={Op("del", Rule(101, 2, 17001))})
    with pytest.raises(ApplyError, match="could not remove: ip rule del priority 101"):
        transaction.down("tun0", kernel, RealExecutor(kernel), undo_all)
    assert kernel.calls == [Op("del", Rule(100, 1, 17000)), Op("del", TunDevice("tun0"))]
    assert Op("add", Rule(100, 1, 17000)).inverse() not in kernel.calls[1:]
    assert record.load("tun0") == [Op("add", Rule(101, 2, 17001))]
    kernel.fail_on = set()
    transaction.down("tun0", kernel, RealExecutor(kernel), undo_all)
    assert record.load("tun0") == []


def test_up_records_once_and_a_failed_up_leaves_the_record(state_dir):
    kernel = FakeKernel()
    rule = Rule(100, 1, 17000)
    transaction.up("tun0", kernel, RealExecutor(kernel), lambda obs, made: [Op("add", rule)])
    transaction.up("tun0", kernel, RealExecutor(kernel), lambda obs, made: [Op("add", rule)])
    assert record.load("tun0") == [Op("add", rule)]
    kernel.fail_on = {Op("add", TunDevice("tun0"))}
    with pytest.raises(ApplyError):
        transaction.up("tun0", kernel, RealExecutor(kernel),
                       lambda obs, made: [Op("add", TunDevice("tun0"))])
    assert record.load("tun0") == [Op("add", rule)]


def test_a_bond_down_goes_on_past_a_port_it_cannot_release(state_dir):
    from planner_support import observed_from
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.core.objects import DEVICE_ALIAS, Bond, BondSettings, Enslave
    made = [Op("add", Bond("bond0", "802.3ad")),
            Op("set", BondSettings("bond0", (("miimon", 100),)), None),
            Op("add", Enslave("eth1", "bond0")), Op("add", Enslave("eth2", "bond0"))]
    record.save("bond0", made)
    kernel = FakeKernel(fail_on={Op("del", Enslave("eth2", "bond0"))})
    kernel.observe = lambda: observed_from({"links": {
        "bond0": {"kind": "bond", "alias": DEVICE_ALIAS},
        "eth1": {"master": "bond0"}, "eth2": {"master": "bond0"}}})
    with pytest.raises(ApplyError, match="nomaster"):
        bond.down("bond0", kernel, RealExecutor(kernel))
    assert Op("del", Enslave("eth1", "bond0")) in kernel.calls
    assert Op("add", Enslave("eth2", "bond0")) not in kernel.calls    # nothing re-added
    assert record.load("bond0") == [Op("add", Enslave("eth2", "bond0"))]


def test_up_records_keeps_each_op_in_the_record_split_names(state_dir):
    kernel = FakeKernel()
    tun, rule = Op("add", TunDevice("tun0")), Op("add", Rule(100, 1, 17000))
    record.save("b", [Op("add", Rule(100, 2, 17001))])

    def split(obs, applied):
        return {"a": [op for op in applied if op == tun], "b": [op for op in applied if op == rule],
                "c": []}

    done = transaction.up_records(kernel, RealExecutor(kernel), lambda obs: [tun, rule], split)
    assert done.ops == [tun, rule] and kernel.calls == [tun, rule]
    assert record.load("a") == [tun]
    assert record.load("b") == [Op("add", Rule(100, 2, 17001)), rule]
    assert record.load("c") == []
    kernel.fail_on = {Op("add", TunDevice("tun1"))}
    with pytest.raises(ApplyError):
        transaction.up_records(kernel, RealExecutor(kernel),
                               lambda obs: [Op("add", TunDevice("tun1"))], split)
    assert record.load("a") == [tun]


def test_a_port_that_makes_its_bond_records_the_bond_under_the_bonds_name(state_dir, tmp_path,
                                                                          monkeypatch):
    from planner_support import observed_from
    from ifupdown_agg.bond import lifecycle as bond
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.core.memory import MemoryKernel
    from ifupdown_agg.core.objects import Bond, Enslave
    path = tmp_path / "interfaces"
    path.write_text("iface bond0 inet manual\n    bond-slaves none\n    bond-mode 802.3ad\n\n"
                    "iface eth1 inet manual\n    bond-master bond0\n")
    monkeypatch.setattr(bond, "_realtek_usb", lambda ports: {p: False for p in ports})
    kernel = MemoryKernel(observed_from({"links": {"eth1": {}}}))
    raw = ifaces_file.read(str(path)).find("eth1").options
    bond.up("eth1", raw, kernel, RealExecutor(kernel), lambda text: None, str(path))
    assert record.load("eth1") == [Op("add", Enslave("eth1", "bond0"))]
    assert [op.obj for op in record.load("bond0")][:1] == [Bond("bond0", "802.3ad")]
    assert Op("add", Enslave("eth1", "bond0")) not in record.load("bond0")

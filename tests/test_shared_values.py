"""A value two stanzas rely on is restored only when the last of them goes (issue #13
item 1): rp_filter of a NIC that two overlays use. Pure: a fake kernel, the records in a
temporary directory."""

import pytest

from ifupdown_agg.core import record, transaction
from ifupdown_agg.core.executor import RealExecutor
from ifupdown_agg.core.objects import Observed, Route, Sysctl
from ifupdown_agg.core.ops import Op

RP = "net/ipv4/conf/eth1/rp_filter"


class FakeKernel:
    def __init__(self):
        self.calls = []

    def observe(self):
        return Observed()

    def apply_all(self, ops):
        self.calls += ops
        return list(ops), None


def undo_all(obs, made):
    return [u for u in (op.inverse() for op in reversed(made)) if u is not None]


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))


def test_the_first_down_hands_the_old_value_to_the_overlay_still_using_the_nic():
    route7 = Route(17001, "198.19.7.2/32", "eth1", gateway="198.18.71.2")
    route8 = Route(18001, "198.19.8.2/32", "eth1", gateway="198.18.71.2")
    record.save("tun7", [Op("set", Sysctl(RP, "2"), Sysctl(RP, "1")), Op("add", route7)])
    record.save("tun8", [Op("add", route8)])       # found it loose: changed nothing
    kernel = FakeKernel()
    transaction.down("tun7", kernel, RealExecutor(kernel), undo_all)
    assert kernel.calls == [Op("del", route7)]      # rp_filter stays loose for tun8
    assert record.load("tun7") == []
    assert Op("set", Sysctl(RP, "2"), Sysctl(RP, "1")) in record.load("tun8")
    kernel.calls.clear()
    transaction.down("tun8", kernel, RealExecutor(kernel), undo_all)
    assert kernel.calls == [Op("set", Sysctl(RP, "1"), Sysctl(RP, "2")), Op("del", route8)]
    assert record.keys() == []


def test_a_value_no_one_else_relies_on_is_restored_at_once():
    route = Route(17001, "198.19.7.2/32", "eth1", gateway="198.18.71.2")
    record.save("tun7", [Op("set", Sysctl(RP, "2"), Sysctl(RP, "1")), Op("add", route)])
    record.save("tun8", [Op("add", Route(18001, "198.19.8.2/32", "eth2"))])
    kernel = FakeKernel()
    transaction.down("tun7", kernel, RealExecutor(kernel), undo_all)
    assert kernel.calls == [Op("del", route), Op("set", Sysctl(RP, "1"), Sysctl(RP, "2"))]
    assert record.keys() == ["tun8"]

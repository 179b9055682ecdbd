"""ifdown of bond and port stanzas: undo exactly the record (pure)."""

from planner_support import observed_from

from ifupdown_agg.bond.plan import plan_release, plan_sweep, recorded
from ifupdown_agg.core.objects import DEVICE_ALIAS, Bond, BondSettings, Enslave, LinkAttrs
from ifupdown_agg.core.ops import Op


def describe(ops):
    return [f"{op.action} {op.describe()}" for op in ops]


def test_a_bond_we_made_is_deleted_after_its_ports_are_released():
    made = [Op("add", Bond("bond0", "802.3ad")),
            Op("set", BondSettings("bond0", (("miimon", 100),)), None),
            Op("add", Enslave("eth1", "bond0")), Op("add", Enslave("eth2", "bond0"))]
    obs = observed_from({"links": {"bond0": {"kind": "bond", "alias": DEVICE_ALIAS},
                                   "eth1": {"master": "bond0"}, "eth2": {"master": "bond0"}}})
    assert describe(plan_release(made, obs, DEVICE_ALIAS)) == [
        "del ip link set eth2 nomaster", "del ip link set eth1 nomaster", "del ip link del bond0"]


def test_someone_elses_bond_gets_its_values_back_and_stays():
    made = [Op("set", LinkAttrs("bond0", up=False), LinkAttrs("bond0", up=True)),
            Op("set", BondSettings("bond0", (("ad_lacp_rate", 1),)),
               BondSettings("bond0", (("ad_lacp_rate", 0),))),
            Op("set", LinkAttrs("bond0", up=True), LinkAttrs("bond0", up=False)),
            Op("add", Enslave("eth3", "bond0"))]
    obs = observed_from({"links": {"bond0": {"kind": "bond"}, "eth3": {"master": "bond0"}}})
    assert describe(plan_release(made, obs, DEVICE_ALIAS)) == [
        "del ip link set eth3 nomaster", "set ip link set bond0 down",
        "set ip link set bond0 type bond lacp_rate slow", "set ip link set bond0 up"]


def test_a_port_already_released_by_its_bond_is_left_alone():
    made = [Op("add", Enslave("eth1", "bond0"))]
    assert plan_release(made, observed_from({"links": {"eth1": {}}}), DEVICE_ALIAS) == []
    moved = observed_from({"links": {"eth1": {"master": "bond9"}, "bond9": {"kind": "bond"}}})
    assert plan_release(made, moved, DEVICE_ALIAS) == []


def test_without_a_record_only_a_bond_with_our_alias_goes():
    ours = observed_from({"links": {"bond0": {"kind": "bond", "alias": DEVICE_ALIAS}}})
    theirs = observed_from({"links": {"bond0": {"kind": "bond"}}})
    assert describe(plan_sweep(ours, "bond0", DEVICE_ALIAS)) == ["del ip link del bond0"]
    assert plan_sweep(theirs, "bond0", DEVICE_ALIAS) == []


def test_a_down_only_value_goes_back_with_the_bond_down_though_the_record_has_no_bracket():
    # record.merge folds the up plan's down/up pair away: the undo derives it again.
    made = [Op("set", BondSettings("bond0", (("ad_lacp_rate", 1),)),
               BondSettings("bond0", (("ad_lacp_rate", 0),)))]
    up = observed_from({"links": {"bond0": {"kind": "bond"}, "eth1": {"master": "bond0"}}})
    assert describe(plan_release(made, up, DEVICE_ALIAS)) == [
        "set ip link set bond0 down", "set ip link set bond0 type bond lacp_rate slow",
        "set ip link set bond0 up"]
    down = observed_from({"links": {"bond0": {"kind": "bond", "up": False}}})
    assert describe(plan_release(made, down, DEVICE_ALIAS)) == [
        "set ip link set bond0 type bond lacp_rate slow"]


def test_a_portless_value_goes_back_with_the_remaining_ports_out_and_in_again():
    made = [Op("set", BondSettings("bond0", (("mode", 4),)), BondSettings("bond0", (("mode", 1),))),
            Op("set", BondSettings("bond0", (("miimon", 100),)),
               BondSettings("bond0", (("miimon", 0),))),
            Op("add", Enslave("eth3", "bond0"))]
    obs = observed_from({"links": {"bond0": {"kind": "bond"}, "eth1": {"master": "bond0"},
                                   "eth2": {"master": "bond0"}, "eth3": {"master": "bond0"}}})
    assert describe(plan_release(made, obs, DEVICE_ALIAS)) == [
        "del ip link set eth3 nomaster", "set ip link set bond0 type bond miimon 0",
        "del ip link set eth1 nomaster", "del ip link set eth2 nomaster",
        "set ip link set bond0 down", "set ip link set bond0 type bond mode active-backup",
        "set ip link set bond0 up",
        "add ip link set eth1 down && ip link set eth1 master bond0",
        "add ip link set eth2 down && ip link set eth2 master bond0"]


def test_ports_released_and_joined_again_by_an_up_plan_are_not_recorded():
    obs = observed_from({"links": {"bond0": {"kind": "bond"}, "eth1": {"master": "bond0"},
                                   "eth2": {}}})
    mode = Op("set", BondSettings("bond0", (("mode", 4),)), BondSettings("bond0", (("mode", 1),)))
    applied = [Op("del", Enslave("eth1", "bond0")), mode, Op("add", Enslave("eth1", "bond0")),
               Op("add", Enslave("eth2", "bond0"))]
    assert recorded(applied, obs) == [mode, Op("add", Enslave("eth2", "bond0"))]


def test_bond_down_leaves_another_wings_record_entries(tmp_path, monkeypatch):
    """A USB gadget that is also a bond port keeps both in one record; the bond's down
    undoes its port and leaves the gadget for the usb wing's own down (it used to read
    the gadget as a bond object and fail)."""
    from ifupdown_agg.bond import lifecycle
    from ifupdown_agg.core import record
    from ifupdown_agg.core.executor import RealExecutor
    from ifupdown_agg.core.memory import MemoryKernel
    from ifupdown_agg.core.objects import LinkInfo, Observed, UsbGadget
    from ifupdown_agg.core.ops import Action, Op
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    obs = Observed(links={"bond1": LinkInfo("bond1", 1, kind="bond", alias="ifupdown-agg", up=True),
                          "usbg1": LinkInfo("usbg1", 2, master="bond1", up=True)})
    kernel = MemoryKernel(obs)
    gadget = UsbGadget("usbg1", "ncm", "dummy_udc.0")
    record.save("usbg1", [Op(Action.ADD, gadget), Op(Action.ADD, Enslave("usbg1", "bond1"))])
    lifecycle.down("usbg1", kernel, RealExecutor(kernel))
    assert kernel.observe().links["usbg1"].master is None
    assert [op.obj for op in record.load("usbg1")] == [gadget]


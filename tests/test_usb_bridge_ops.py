"""usbnet-bridge through the op model: a BridgePort op, the executor, the record."""

import io

import pytest

from ifupdown_agg.core import record
from ifupdown_agg.core.executor import DryRunExecutor, RealExecutor
from ifupdown_agg.core.memory import MemoryKernel
from ifupdown_agg.core.objects import (BridgePort, Enslave, LinkInfo, Observed, from_json,
                                       to_json)
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.config.schema import RawOption
from ifupdown_agg.errors import AggError
from ifupdown_agg.usb import lifecycle


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))


def _kernel(master=None, up=True):
    obs = Observed(links={"br0": LinkInfo("br0", 2, kind="bridge", up=True),
                          "usb0": LinkInfo("usb0", 3, up=up, master=master),
                          "bond0": LinkInfo("bond0", 4, kind="bond")})
    return MemoryKernel(obs)


def _raw(**options):
    return {k: RawOption(v, None) for k, v in options.items()}


def test_bridge_port_describes_and_round_trips():
    obj = BridgePort("usb0", "br0")
    assert Op(Action.ADD, obj).describe() == "ip link set usb0 master br0"
    assert Op(Action.DEL, obj).describe() == "ip link set usb0 nomaster"
    assert from_json(to_json(obj)) == obj
    assert obj.key() != Enslave("usb0", "br0").key()


def test_join_records_and_leave_removes_what_was_recorded():
    kernel = _kernel()
    ops = lifecycle.bridge_join("usb0", "br0", True, kernel, RealExecutor(kernel))
    assert ops == [Op(Action.ADD, BridgePort("usb0", "br0"))]
    link = kernel.observe().links["usb0"]
    assert link.master == "br0" and link.up          # joined without a flap
    assert record.load("usb0") == ops
    again = lifecycle.bridge_join("usb0", "br0", True, kernel, RealExecutor(kernel))
    assert again == [] and record.load("usb0") == ops
    left = lifecycle.bridge_join("usb0", "br0", False, kernel, RealExecutor(kernel))
    assert left == [Op(Action.DEL, BridgePort("usb0", "br0"))]
    assert kernel.observe().links["usb0"].master is None
    assert record.load("usb0") == []


def test_leave_keeps_a_port_it_did_not_join():
    kernel = _kernel(master="br0")
    assert lifecycle.bridge_join("usb0", "br0", False, kernel, RealExecutor(kernel)) == []
    assert kernel.observe().links["usb0"].master == "br0"


def test_leave_keeps_the_records_other_entries():
    other = Op(Action.ADD, Enslave("usb0", "bond9"))
    record.save("usb0", [other])
    kernel = _kernel()
    lifecycle.bridge_join("usb0", "br0", True, kernel, RealExecutor(kernel))
    lifecycle.bridge_join("usb0", "br0", False, kernel, RealExecutor(kernel))
    assert record.load("usb0") == [other]


def test_missing_bridge_is_named():
    kernel = _kernel()
    with pytest.raises(AggError, match="usb0: usbnet-bridge br7: no bridge of that name"):
        lifecycle.bridge_join("usb0", "br7", True, kernel, RealExecutor(kernel))
    with pytest.raises(AggError, match="usbnet-bridge bond0: no bridge"):
        lifecycle.bridge_join("usb0", "bond0", True, kernel, RealExecutor(kernel))
    assert record.load("usb0") == []


def test_absent_interface_has_nothing_to_join():
    kernel = _kernel()
    assert lifecycle.bridge_join("usb9", "br0", True, kernel, RealExecutor(kernel)) == []


def test_dry_run_changes_nothing():
    kernel, out = _kernel(), io.StringIO()
    lifecycle.bridge_join("usb0", "br0", True, kernel, DryRunExecutor(out))
    assert "ip link set usb0 master br0" in out.getvalue()
    assert kernel.observe().links["usb0"].master is None and record.load("usb0") == []


def test_hook_joins_at_post_up_and_leaves_at_pre_down():
    kernel = _kernel()
    raw = _raw(**{"usbnet-bridge": "br0"})
    lifecycle.hook("usb0", "post-up", raw, print, make_kernel=lambda: kernel)
    assert kernel.observe().links["usb0"].master == "br0"
    # The option gone from the stanza by ifdown time: the record still says what to undo.
    lifecycle.hook("usb0", "pre-down", {}, print, make_kernel=lambda: kernel)
    assert kernel.observe().links["usb0"].master is None

"""The USB gadget as an op: UsbGadget through the executor, the record and configfs."""

import pytest

from ifupdown_agg.core import record
from ifupdown_agg.core.memory import MemoryKernel
from ifupdown_agg.core.objects import Enslave, Observed, from_json, to_json
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.kernel import configfs
from ifupdown_agg.usb import lifecycle
from ifupdown_agg.usb.gadget import GadgetSpec

SPEC = GadgetSpec("usb0", "ncm", serial_console=True)


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path / "run"))


def test_object_carries_the_spec_and_round_trips():
    obj = lifecycle.gadget_object(SPEC, "dummy_udc.0")
    assert obj.udc == "dummy_udc.0" and obj.serial_console and obj.function == "ncm"
    assert from_json(to_json(obj)) == obj
    assert configfs.spec_of(obj) == GadgetSpec(**{**SPEC.__dict__, "udc": "dummy_udc.0"})
    assert Op(Action.ADD, obj).describe().startswith("configfs add usb_gadget/ifagg_usb0 ncm")
    assert Op(Action.DEL, obj).describe() == "configfs del usb_gadget/ifagg_usb0"


def test_add_is_recorded_and_down_deletes_what_was_recorded():
    kernel = MemoryKernel(Observed())
    obj = lifecycle.gadget_object(SPEC, "dummy_udc.0")
    other = Op(Action.ADD, Enslave("usb0", "bond9"))
    record.save("usb0", [other])
    assert lifecycle.gadget_op("usb0", obj, True, kernel) == [Op(Action.ADD, obj)]
    assert kernel.gadgets == {"usb0": obj}
    assert record.load("usb0") == [other, Op(Action.ADD, obj)]
    # Down names the gadget with no UDC; the recorded one (with its UDC) is what goes.
    ops = lifecycle.gadget_op("usb0", lifecycle.gadget_object(SPEC, ""), False, kernel)
    assert ops == [Op(Action.DEL, obj)]
    assert kernel.gadgets == {} and record.load("usb0") == [other]


def test_down_without_record_or_gadget_does_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(lifecycle, "CONFIGFS", str(tmp_path / "cfg"))
    kernel = MemoryKernel(Observed())
    assert lifecycle.gadget_op("usb0", lifecycle.gadget_object(SPEC, ""), False, kernel) == []


def test_configfs_apply_writes_the_gadget(tmp_path):
    (tmp_path / "usb_gadget").mkdir()
    obj = lifecycle.gadget_object(SPEC, "dummy_udc.0")
    configfs.apply(obj, True, str(tmp_path))
    gadget = tmp_path / "usb_gadget" / "ifagg_usb0"
    assert (gadget / "UDC").read_text().strip() == "dummy_udc.0"
    assert (gadget / "configs/c.1/ncm.usb0").is_symlink()

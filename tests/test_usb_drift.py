"""`ifagg check` on a USB gadget stanza (issue #13 item 3): the configfs gadget the stanza
makes against what configfs holds, each difference named; what `ifagg up` would run for
it. configfs is a directory here (the VM tier has the real one, tests/vm)."""

import json
import shutil

import pytest

from ifupdown_agg.cli.main import main
from ifupdown_agg.core import record
from ifupdown_agg.core.objects import Observed
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.kernel.configfs import Gadget
from ifupdown_agg.usb import lifecycle, repair
from ifupdown_agg.usb.gadget import GadgetSpec

SPEC = GadgetSpec("usbg0", "ncm", udc="dummy_udc.0", host_addr="02:1d:6b:00:00:11")
STANZA = """\
iface usbg0 inet static
    address 198.18.8.2/24
    usbnet-gadget ncm
    usbnet-udc dummy_udc.0
    usbnet-host-addr 02:1d:6b:00:00:11
"""


@pytest.fixture
def configfs(tmp_path, monkeypatch):
    """A gadget as pre-up leaves it, in a directory standing for configfs."""
    root = tmp_path / "config"
    (root / "usb_gadget").mkdir(parents=True)
    (tmp_path / "udc" / "dummy_udc.0").mkdir(parents=True)
    monkeypatch.setattr(repair, "CONFIGFS", str(root))
    monkeypatch.setattr(repair, "UDC_CLASS", str(tmp_path / "udc"))
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path / "run"))
    Gadget(SPEC, str(root)).create("dummy_udc.0")
    gadget = root / "usb_gadget" / "ifagg_usbg0"
    (gadget / "functions/ncm.usbg0/ifname").write_text("usbg0\n")   # the kernel's, once bound
    return gadget


def test_a_gadget_as_the_stanza_makes_it_has_no_differences(configfs):
    assert repair.differences(SPEC) == []
    (configfs / "idVendor").write_text("0x1D6B\n")          # read back in another case
    assert repair.differences(SPEC) == []


@pytest.mark.parametrize("change,kind,text", [
    (lambda g: (g / "UDC").write_text("\n"), "udc",
     "usb_gadget/ifagg_usbg0/UDC: not bound, wants dummy_udc.0"),
    (lambda g: (g / "functions/ncm.usbg0/ifname").write_text("usb0\n"), "name",
     "usb_gadget/ifagg_usbg0: its interface is usb0, wants usbg0"),
    (lambda g: (g / "idProduct").write_text("0x8156\n"), "setting",
     "usb_gadget/ifagg_usbg0/idProduct: '0x8156', wants '0x0104'"),
    (lambda g: (g / "functions/ncm.usbg0/host_addr").write_text("02:1d:6b:00:00:12\n"),
     "setting", "usb_gadget/ifagg_usbg0/functions/ncm.usbg0/host_addr: '02:1d:6b:00:00:12', "
                "wants '02:1d:6b:00:00:11'"),
    (lambda g: (g / "configs/c.1/ncm.usbg0").unlink(), "setting",
     "usb_gadget/ifagg_usbg0/configs/c.1/ncm.usbg0: missing (a link to functions/ncm.usbg0)"),
    (lambda g: shutil.rmtree(g), "missing", "usb_gadget/ifagg_usbg0: missing"),
])
def test_each_difference_is_named(configfs, change, kind, text):
    change(configfs)
    assert repair.differences(SPEC) == [(kind, text)]


def test_what_up_runs_for_each_kind_of_difference(configfs):
    obj = lifecycle.gadget_object(SPEC, "dummy_udc.0")
    assert repair.ops_for(SPEC, []) == []
    assert repair.ops_for(SPEC, [("udc", "x"), ("name", "y")]) == [Op(Action.SET, obj)]
    assert repair.ops_for(SPEC, [("setting", "x"), ("udc", "y")]) == [Op(Action.DEL, obj),
                                                                      Op(Action.ADD, obj)]
    assert repair.ops_for(SPEC, [("missing", "x")]) == [Op(Action.ADD, obj)]


def test_auto_wants_the_controller_pre_up_bound(configfs):
    spec = GadgetSpec("usbg0", "ncm", host_addr="02:1d:6b:00:00:11")
    assert repair.wanted_udc(spec) == ""           # no record: any controller will do
    record.save("usbg0", [Op(Action.ADD, lifecycle.gadget_object(spec, "dummy_udc.1"))])
    assert repair.wanted_udc(spec) == "dummy_udc.1"
    assert repair.differences(spec) == [
        ("udc", "usb_gadget/ifagg_usbg0/UDC: bound to dummy_udc.0, wants dummy_udc.1")]


def test_a_bridge_the_stanza_joins_is_checked(configfs):
    from ifupdown_agg.config.schema import RawOption
    from ifupdown_agg.errors import Location
    raw = {"usbnet-bridge": RawOption("br0", Location("i", 1), {})}
    ops, _, details = repair.check("usbh1", raw, Observed())
    assert [op.describe() for op in ops] == ["ip link set usbh1 master br0"]
    assert "no bridge of that name" in details[0]


def test_check_reports_gadget_drift_with_exit_1_and_the_object(configfs, tmp_path, capsys):
    path = tmp_path / "interfaces"
    path.write_text(STANZA)
    assert main(["check", "-i", str(path), "usbg0"]) == 0
    assert capsys.readouterr().out.strip() == "usbg0: in sync"
    (configfs / "UDC").write_text("\n")
    assert main(["check", "-i", str(path), "usbg0"]) == 1
    out = capsys.readouterr().out
    assert "usbg0: 1 difference(s)" in out
    assert "usb_gadget/ifagg_usbg0/UDC: not bound, wants dummy_udc.0" in out
    assert main(["check", "--json", "-i", str(path), "usbg0"]) == 1
    doc = json.loads(capsys.readouterr().out)
    entry = doc["stanzas"][0]
    assert entry["kind"] == "usb" and entry["exit"] == 1
    assert entry["ops"][0]["action"] == "set" and entry["ops"][0]["obj"]["kind"] == "gadget"
    jsonschema = pytest.importorskip("jsonschema")
    from ifupdown_agg.cli import schemas
    jsonschema.validate(doc, schemas.SCHEMAS["check"])

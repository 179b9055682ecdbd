"""The configfs gadget writer against a temporary directory: the exact files and values."""

import os

import pytest

from ifupdown_agg.kernel.configfs import Gadget
from ifupdown_agg.usb.gadget import GadgetError, GadgetSpec, stable_mac

MID = "0123456789abcdef0123456789abcdef"


def tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            out[rel] = ("-> " + os.path.relpath(os.readlink(path), root) if os.path.islink(path)
                        else open(path).read().strip())
    return out


@pytest.fixture
def configfs(tmp_path, monkeypatch):
    (tmp_path / "cfg" / "usb_gadget").mkdir(parents=True)
    (tmp_path / "udc" / "dummy_udc.0").mkdir(parents=True)
    monkeypatch.setattr("ifupdown_agg.usb.gadget.stable_mac",
                        lambda iface, role, machine_id=None: stable_mac(iface, role, MID))
    return tmp_path


def test_ncm_gadget_files(configfs):
    g = Gadget(GadgetSpec("usb0", "ncm", serial_console=True), str(configfs / "cfg"), str(configfs / "udc"))
    g.create(g.preflight())
    dev, host = stable_mac("usb0", "dev", MID), stable_mac("usb0", "host", MID)
    assert tree(configfs / "cfg" / "usb_gadget" / "ifagg_usb0") == {
        "idVendor": "0x1d6b", "idProduct": "0x0104", "bcdDevice": "0x0100", "bcdUSB": "0x0200",
        "strings/0x409/manufacturer": "ifupdown-agg", "strings/0x409/product": "USB Ethernet",
        "strings/0x409/serialnumber": stable_mac("usb0", "serial", MID).replace(":", ""),
        "configs/c.1/MaxPower": "250",
        "configs/c.1/strings/0x409/configuration": "NCM network",
        "functions/ncm.usb0/dev_addr": dev, "functions/ncm.usb0/host_addr": host,
        "configs/c.1/ncm.usb0": "-> functions/ncm.usb0",
        "configs/c.1/acm.usb0": "-> functions/acm.usb0",
        "UDC": "dummy_udc.0",
    }


def test_stable_macs_are_local_unicast_and_differ():
    dev, host = stable_mac("usb0", "dev", MID), stable_mac("usb0", "host", MID)
    assert dev != host and dev == stable_mac("usb0", "dev", MID)
    first = int(dev.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_preflight_errors(configfs):
    spec = GadgetSpec("usb0", "ecm")
    with pytest.raises(GadgetError, match="libcomposite is not loaded"):
        Gadget(spec, str(configfs / "udc"), str(configfs / "udc")).preflight()
    with pytest.raises(GadgetError, match="dtoverlay=dwc2"):
        Gadget(spec, str(configfs / "cfg"), str(configfs / "none")).preflight()
    other = configfs / "cfg" / "usb_gadget" / "g1"
    other.mkdir()
    (other / "UDC").write_text("dummy_udc.0\n")
    with pytest.raises(GadgetError, match="already used by the gadget 'g1'"):
        Gadget(spec, str(configfs / "cfg"), str(configfs / "udc")).preflight()
    with pytest.raises(GadgetError, match="both"):
        Gadget(GadgetSpec("usb0", "ncm", dev_addr="02:00:00:00:00:01",
                          host_addr="02:00:00:00:00:01"), str(configfs / "cfg")).check_macs({})

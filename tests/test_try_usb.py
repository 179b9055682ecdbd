"""`ifagg try` on a USB gadget stanza, on the in-memory kernel (no root; the real
configfs, dummy_hcd and the host's cdc_ncm are in the VM tier, vm/guest/try_vm.py).

A new gadget tried and not confirmed goes, with its interface and its bridge port; a
changed gadget (another MAC) is replaced, and without a confirmation the one before is
made again from its record, its interface given back the addresses, bridge and up state
it had; confirmed, the try keeps exactly what up makes. A gadget in configfs that no
record holds is refused before anything changes."""

import os

import pytest

from ifupdown_agg.cli import stanzas, try_
from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RealExecutor
from ifupdown_agg.core.memory import MemoryKernel, kernel_objects
from ifupdown_agg.core.objects import Address, LinkInfo, LinkAttrs, Observed, UsbGadget
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import AggError
from ifupdown_agg.usb import converge

STANZA = """\
auto br0
iface br0 inet manual

auto usbg0
iface usbg0 inet static
    address 198.18.8.2/24
    usbnet-gadget ncm
    usbnet-udc dummy_udc.0
    usbnet-host-addr {host}
    usbnet-bridge br0
"""
OLD, NEW = "02:1d:6b:00:00:11", "02:1d:6b:00:00:22"


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def interfaces(tmp_path, host):
    path = tmp_path / "interfaces"
    path.write_text(STANZA.format(host=host))
    return str(path)


def kernel():
    return MemoryKernel(Observed(links={"br0": LinkInfo("br0", 2, kind="bridge", up=True)}))


def files(run):
    return {p: (run / p).read_bytes() for p in sorted(os.listdir(run))} if run.exists() else {}


def view(k, run):
    link = k.observe().links.get("usbg0")
    return kernel_objects(k.observe()), dict(k.gadgets), link and link.up, files(run)


def up_as_ifupdown(k, path):
    """What ifup does: the gadget and its bridge, then ifupdown's address and up."""
    ops = stanzas.up("usbg0", stanzas.USB, path, k, RealExecutor(k))
    RealExecutor(k).run([Op(Action.ADD, Address("usbg0", "198.18.8.2", 24)),
                         Op(Action.SET, LinkAttrs("usbg0", up=True))])
    return ops


def test_the_stanza_is_ours_and_of_the_usb_kind(tmp_path):
    assert stanzas.ours(interfaces(tmp_path, OLD), [], only_auto=True) == [("usbg0", "usb")]


def test_a_new_gadget_not_confirmed_goes_with_its_interface_and_bridge_port(tmp_path, state):
    path, k = interfaces(tmp_path, OLD), kernel()
    before = view(k, state)

    def decide():
        link = k.observe().links["usbg0"]
        assert link.master == "br0" and set(k.gadgets) == {"usbg0"}
        return False, "test"

    assert try_.trial([("usbg0", "usb")], path, k, RealExecutor(k), decide) == 1
    assert view(k, state) == before and "usbg0" not in k.observe().links


def test_a_confirmed_try_keeps_what_up_makes(tmp_path, state):
    path = interfaces(tmp_path, OLD)
    by_up = kernel()
    stanzas.up("usbg0", stanzas.USB, path, by_up, RealExecutor(by_up))
    wanted = view(by_up, state)
    for entry in os.listdir(state):
        os.unlink(state / entry)
    k = kernel()
    assert try_.trial([("usbg0", "usb")], path, k, RealExecutor(k), lambda: (True, "t")) == 0
    assert view(k, state) == wanted
    # Up again changes nothing: the gadget is as the stanza says.
    assert stanzas.up("usbg0", stanzas.USB, path, k, RealExecutor(k)) == []


def test_a_changed_gadget_is_replaced_and_a_revert_makes_the_old_one_again(tmp_path, state):
    k = kernel()
    up_as_ifupdown(k, interfaces(tmp_path, OLD))
    old = k.gadgets["usbg0"]
    before = view(k, state)
    path = interfaces(tmp_path, NEW)
    seen = {}

    def decide():
        link = k.observe().links["usbg0"]
        seen.update(host=k.gadgets["usbg0"].host_addr, addrs=link.addrs, up=link.up,
                    master=link.master)
        return False, "test"

    assert try_.trial([("usbg0", "usb")], path, k, RealExecutor(k), decide) == 1
    # While pending: the new gadget, and its interface as the old one was.
    assert seen == {"host": NEW, "addrs": [("198.18.8.2", 24)], "up": True, "master": "br0"}
    assert view(k, state) == before and k.gadgets["usbg0"] == old
    assert [op.obj for op in record.load("usbg0") if isinstance(op.obj, UsbGadget)] == [old]


def test_a_changed_gadget_confirmed_is_kept_and_recorded(tmp_path, state):
    k = kernel()
    up_as_ifupdown(k, interfaces(tmp_path, OLD))
    path = interfaces(tmp_path, NEW)
    assert try_.trial([("usbg0", "usb")], path, k, RealExecutor(k), lambda: (True, "t")) == 0
    assert k.gadgets["usbg0"].host_addr == NEW
    assert [op.obj.host_addr for op in record.load("usbg0")
            if isinstance(op.obj, UsbGadget)] == [NEW]
    link = k.observe().links["usbg0"]
    assert link.addrs == [("198.18.8.2", 24)] and link.up and link.master == "br0"
    assert stanzas.up("usbg0", stanzas.USB, path, k, RealExecutor(k)) == []


def test_a_gadget_without_a_record_is_refused_before_anything_changes(tmp_path, state):
    path, k = interfaces(tmp_path, OLD), kernel()
    up_as_ifupdown(k, path)
    record.remove("usbg0")
    before = view(k, state)
    with pytest.raises(AggError, match="no record of ours made"):
        try_.trial([("usbg0", "usb")], interfaces(tmp_path, NEW), k, RealExecutor(k),
                   lambda: (True, "t"))
    assert view(k, state) == before


def test_the_real_side_is_configfs_and_the_memory_kernel_gets_its_own():
    assert isinstance(converge.side_for(kernel()), converge.MemorySide)
    assert isinstance(converge.side_for(object()), converge.ConfigfsSide)


def test_a_new_gadget_that_gets_no_interface_gives_the_old_one_back(tmp_path, state):
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.usb.gadget import GadgetError
    k = kernel()
    up_as_ifupdown(k, interfaces(tmp_path, OLD))
    old, before = k.gadgets["usbg0"], view(k, state)[:3]

    class NoInterface(converge.MemorySide):
        def settle(self, obj, say):
            if obj.host_addr == NEW:
                raise GadgetError("usbg0: bound, but the kernel made no network interface")

    raw = ifaces_file.read(interfaces(tmp_path, NEW)).find("usbg0").options
    with pytest.raises(AggError, match="no network interface"):
        converge.up("usbg0", raw, k, RealExecutor(k), print, side=NoInterface(k))
    assert view(k, state)[:3] == before and k.gadgets["usbg0"] == old
    assert converge.recorded_gadget("usbg0") == old

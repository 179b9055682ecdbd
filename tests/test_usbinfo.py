"""usbinfo: USB link facts from fake sysfs trees, the Pi model, and bus_caps."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

import pytest

from ifupdown_agg.usb import facts as usbinfo
from ifupdown_agg.kernel import usb as usbread
from ifupdown_agg.usb import read as usbcaps
from ifupdown_agg.usb.facts import PiModel, UsbNicFacts, bus_caps, chip, parse_pi_model, usb3_capable

HERE = os.path.dirname(os.path.abspath(__file__))


def load_fixtures():
    spec = importlib.util.spec_from_file_location(
        "usb_sysfs", os.path.join(HERE, "fixtures", "usb_sysfs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


usb_sysfs = load_fixtures()


@pytest.fixture
def fs(tmp_path):
    return usb_sysfs.FakeSys(tmp_path)


def read(fs, names=None):
    return usbread.read_all(names, fs.sysfs_root, fs.dt_root)


# --- reading fake trees --------------------------------------------------------

def test_rtl8156_on_cdc_ncm_at_superspeed(fs):
    usb_sysfs.rtl8156_cdc_ncm(fs, "5000")
    facts, pi = read(fs)
    assert pi is None
    nic = facts["enx00e04c680152"]
    assert nic == UsbNicFacts(
        name="enx00e04c680152", role="host", driver="cdc_ncm", duplex="half",
        speed_mbps=2500, vendor_id="0bda", product_id="8156", serial="001000001",
        usb_speed_mbps=5000, usb_version="3.20", configuration=2, busnum=2, devpath="1",
        host_controller="xhci_hcd", num_configurations=2)
    assert (nic.usb_id, chip(nic), usb3_capable(nic)) == ("0bda:8156", "RTL8156", True)
    assert usbinfo.bandwidth_domain(nic, None) is None      # no USB 2.0 bus limits it
    assert bus_caps(facts, None) == {"enx00e04c680152": 2500}


def test_rtl8156_in_a_usb2_port_is_usb3_capable_by_its_ids(fs):
    usb_sysfs.rtl8156_cdc_ncm(fs, "480")
    nic = read(fs)[0]["enx00e04c680152"]
    assert (nic.usb_speed_mbps, nic.usb_version, nic.busnum) == (480, "2.10", 1)
    assert usb3_capable(nic)                                   # bcdUSB says 2.10, the chip is USB 3
    assert usbinfo.bandwidth_domain(nic, None) == ("bus", 1, "1")
    assert bus_caps({nic.name: nic}, None) == {nic.name: usbinfo.USB2_BUS_BUDGET_MBPS}


def test_pi3b_onboard_and_ax88179_share_bus_1(fs):
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    facts, pi = read(fs)
    assert pi == PiModel("Raspberry Pi 3 Model B Rev 1.2", 3, "smsc95xx")
    assert pi.shared_usb2_bus
    assert sorted(facts) == ["eth0", "eth1"]
    eth0, eth1 = facts["eth0"], facts["eth1"]
    assert (eth0.driver, eth0.speed_mbps, eth0.duplex, eth0.usb_id, eth0.devpath) == \
        ("smsc95xx", 100, "full", "0424:ec00", "1.1")
    assert (eth1.driver, chip(eth1), eth1.usb_speed_mbps, eth1.busnum, eth1.serial) == \
        ("ax88179_178a", "AX88179", 480, 1, "0000249B0A1C")
    assert eth0.host_controller == eth1.host_controller == "dwc_otg"
    assert usbinfo.is_pi_onboard(eth0, pi) and not usbinfo.is_pi_onboard(eth1, pi)
    assert usbinfo.bus_groups(facts, pi) == [["eth0", "eth1"]]
    assert bus_caps(facts, pi) == {"eth0": 20, "eth1": 204}


def test_pl25a1_on_plusb_has_no_link_speed(fs):
    usb_sysfs.pl25a1_plusb(fs)
    nic = read(fs)[0]["usb0"]
    assert (nic.driver, chip(nic), nic.speed_mbps, nic.duplex) == \
        ("plusb", "PL-25A1", None, "unknown")
    assert (nic.usb_speed_mbps, usb3_capable(nic)) == (480, False)
    # unknown rate on a USB 2.0 bus: it can carry the bus at most
    assert bus_caps({"usb0": nic}, None) == {"usb0": usbinfo.USB2_BUS_BUDGET_MBPS}


def test_gadget_side_is_not_a_usb_nic_of_this_host(fs):
    usb_sysfs.pi_zero_gadget(fs)
    facts, pi = read(fs)
    nic = facts["usb0"]
    assert (nic.role, nic.driver, nic.udc, nic.usb_speed_mbps) == \
        ("gadget", "g_ether", "20980000.usb", 480)
    assert nic.vendor_id is None and nic.busnum is None and not usb3_capable(nic)
    assert pi == PiModel("Raspberry Pi Zero W Rev 1.1", 1, None)   # read from /sys/firmware


def test_non_usb_links_are_left_out(fs):
    fs.pci_nic("enp1s0")
    fs.virtual_nic("veth0")
    usb_sysfs.rtl8156_r8152(fs)
    facts, _ = read(fs)
    assert sorted(facts) == ["enx00e04c6810e6"]
    assert read(fs, ["enp1s0", "veth0", "missing0"])[0] == {}
    assert usbcaps.usb_caps(["enp1s0", "enx00e04c6810e6"], sysfs_root=fs.sysfs_root,
                            dt_root=fs.dt_root) == {"enx00e04c6810e6": 2500}


def test_usb_caps_takes_the_callers_rates(fs):
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    caps = usbcaps.usb_caps(["eth0", "eth1"], rates={"eth1": 100},
                            sysfs_root=fs.sysfs_root, dt_root=fs.dt_root)
    assert caps == {"eth0": 100, "eth1": 100}      # 200 fits in the bus: no cap


# --- the Pi model ----------------------------------------------------------------

@pytest.mark.parametrize("model, generation, onboard", [
    ("Raspberry Pi Model B Rev 2", 1, "smsc95xx"),
    ("Raspberry Pi Model B Plus Rev 1.2", 1, "smsc95xx"),
    ("Raspberry Pi Model A Plus Rev 1.1", 1, None),
    ("Raspberry Pi 2 Model B Rev 1.1", 2, "smsc95xx"),
    ("Raspberry Pi 3 Model B Rev 1.2", 3, "smsc95xx"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", 3, "lan78xx"),
    ("Raspberry Pi 3 Model A Plus Rev 1.0", 3, None),
    ("Raspberry Pi Zero 2 W Rev 1.0", 3, None),
    ("Raspberry Pi Compute Module 3 Plus Rev 1.0", 3, None),
    ("Raspberry Pi Compute Module Rev 1.0", 1, None),
    ("Raspberry Pi 4 Model B Rev 1.4", 4, None),
    ("Raspberry Pi 400 Rev 1.0", 4, None),
    ("Raspberry Pi Compute Module 4 Rev 1.0", 4, None),
    ("Raspberry Pi 5 Model B Rev 1.0", 5, None),
])
def test_pi_models(model, generation, onboard):
    pi = parse_pi_model(model + "\0")
    assert (pi.generation, pi.onboard_ethernet) == (generation, onboard)
    assert pi.shared_usb2_bus == (generation <= 3)


@pytest.mark.parametrize("model", [None, "", "QEMU Virt Machine", "Raspberry Pi",
                                   "Raspberry Pi Foo"])
def test_not_a_pi(model):
    assert parse_pi_model(model) is None


def test_no_device_tree_means_no_pi(fs):
    assert usbread.read_pi_model(fs.dt_root, fs.sysfs_root) is None


# --- bus_caps (pure) ---------------------------------------------------------------

def link(name, speed, busnum=1, devpath="1", usb_speed=480, hc="ehci-pci", **kw):
    return UsbNicFacts(name=name, speed_mbps=speed, busnum=busnum, devpath=devpath,
                       usb_speed_mbps=usb_speed, host_controller=hc, **kw)


PI3B = parse_pi_model("Raspberry Pi 3 Model B Rev 1.2")


def test_the_measured_pi3b_case_splits_224_by_link_rate():
    facts = {"eth0": link("eth0", 100, devpath="1.1", driver="smsc95xx"),
             "eth1": link("eth1", 1000, devpath="1.3")}
    caps = bus_caps(facts, PI3B)
    assert caps == {"eth0": 20, "eth1": 204}
    assert sum(caps.values()) == usbinfo.USB2_BUS_BUDGET_MBPS == 224


def test_caps_on_one_bus_sum_to_the_budget():
    facts = {f"eth{i}": link(f"eth{i}", rate) for i, rate in enumerate((100, 1000, 1000, 2500))}
    caps = bus_caps(facts, None)
    assert sum(caps.values()) == 224
    assert abs(caps["eth1"] - caps["eth2"]) <= 1 and caps["eth0"] < caps["eth1"] < caps["eth3"]
    assert bus_caps(facts, None, budget=300)["eth3"] == round(300 * 2500 / 4600)


def test_links_that_fit_in_the_bus_keep_their_rate():
    facts = {"a": link("a", 100), "b": link("b", 100)}
    assert bus_caps(facts, None) == {"a": 100, "b": 100}


def test_separate_buses_and_superspeed_do_not_share():
    facts = {"a": link("a", 1000, busnum=1), "b": link("b", 1000, busnum=3),
             "c": link("c", 2500, busnum=2, usb_speed=5000)}
    assert bus_caps(facts, None) == {"a": 224, "b": 224, "c": 2500}


def test_xhci_root_ports_are_separate_but_a_hub_is_shared():
    facts = {"a": link("a", 1000, devpath="1", hc="xhci_hcd"),
             "b": link("b", 1000, devpath="2", hc="xhci_hcd"),
             "c": link("c", 1000, devpath="3.1", hc="xhci_hcd"),
             "d": link("d", 1000, devpath="3.2", hc="xhci_hcd")}
    assert bus_caps(facts, None) == {"a": 224, "b": 224, "c": 112, "d": 112}
    ehci = {name: link(name, 1000, devpath=f"{i}") for i, name in enumerate("ab", 1)}
    assert bus_caps(ehci, None) == {"a": 112, "b": 112}


def test_on_a_pi_1_to_3_every_usb_link_shares_whatever_sysfs_says():
    facts = {"eth0": link("eth0", 100, devpath="1.1", driver="smsc95xx"),
             "eth1": link("eth1", 1000, usb_speed=None, busnum=None, devpath=None)}
    assert bus_caps(facts, PI3B) == {"eth0": 20, "eth1": 204}
    pi4 = parse_pi_model("Raspberry Pi 4 Model B Rev 1.4")
    assert bus_caps(facts, pi4) == {"eth0": 100, "eth1": 1000}


def test_callers_rates_override_and_unknown_rates():
    facts = {"a": link("a", 1000), "b": link("b", None), "c": link("c", None, usb_speed=5000)}
    assert bus_caps(facts, None) == {"a": 183, "b": 41}            # b counts as 224; c unknown
    assert bus_caps(facts, None, rates={"a": 50, "b": 50}) == {"a": 50, "b": 50}


def test_full_speed_usb_is_left_alone():
    assert bus_caps({"a": link("a", 10, usb_speed=12)}, None) == {"a": 10}


# --- the udev rule shipped by the package ------------------------------------------

RULE_FILE = os.path.join(os.path.dirname(HERE), "debian", "ifupdown-agg.udev")
TOKEN = re.compile(r'\s*([A-Z]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def parse_rules(path):
    """[[(key, op, value), ...] per rule line], comments and blanks skipped."""
    rules = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            tokens, pos = [], 0
            while pos < len(line):
                match = TOKEN.match(line, pos)
                assert match, f"cannot parse {line[pos:]!r}"
                tokens.append(match.groups())
                pos = match.end()
            rules.append(tokens)
    return rules


def test_udev_rule_puts_rtl8156_and_rtl8153_in_configuration_1():
    rules = parse_rules(RULE_FILE)
    assert sorted(dict((k, v) for k, op, v in r if op == "==")["ATTR{idProduct}"]
                  for r in rules) == ["8153", "8156"]
    for rule in rules:
        matches = [(k, v) for k, op, v in rule if op in ("==", "!=")]
        assigns = [(k, op, v) for k, op, v in rule if op not in ("==", "!=")]
        assert ("ACTION", "add") in matches and ("SUBSYSTEM", "usb") in matches
        assert ("ENV{DEVTYPE}", "usb_device") in matches
        assert ("ATTR{idVendor}", "0bda") in matches
        assert ("ATTR{bConfigurationValue}", "!=", "1") in rule     # a no-op where already 1
        assert assigns == [("ATTR{bConfigurationValue}", "=", "1")]
        ids = {v for k, op, v in rule if k == "ATTR{idProduct}"}
        assert {("0bda", i) for i in ids} <= usbinfo.REALTEK_R8152_IDS


def test_udev_rule_names_the_kernels_that_need_it():
    with open(RULE_FILE) as fh:
        text = fh.read()
    assert "6.2" in text and "harmless" in text and "60-ifupdown-agg.rules" in text


def _udevadm_verify():
    udevadm = shutil.which("udevadm")
    if not udevadm:
        return None
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True)
    return udevadm if probe.returncode == 0 else None


@pytest.mark.skipif(_udevadm_verify() is None, reason="udevadm has no verify (systemd < 253)")
def test_udevadm_verify_accepts_the_rule(tmp_path):
    rules = tmp_path / "60-ifupdown-agg.rules"
    shutil.copy(RULE_FILE, rules)
    done = subprocess.run([_udevadm_verify(), "verify", str(rules)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_planner_fills_bus_caps_from_observed_usb_facts(fs):
    """observe() reports raw USB facts; the overlay's auto weights apply the bus
    shares (a Pi 3B's 100M onboard port and a gigabit adapter: 20 and 204)."""
    from ifupdown_agg.core.objects import LinkInfo, Observed
    from ifupdown_agg.overlay import plan
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    facts, pi = read(fs)
    obs = Observed(pi=pi)
    for index, (name, speed) in enumerate((("eth0", 100), ("eth1", 1000), ("eth2", 2500))):
        obs.links[name] = LinkInfo(name, index + 2, speed=speed, addrs=[(f"10.0.{index}.1", 24)],
                                   usb=facts.get(name))
    weights, note = plan.auto_weights(["eth0", "eth1", "eth2"], obs)
    assert weights == [20, 204, 2500]
    assert note.startswith("a shared USB 2.0 bus sets the weights of eth0 (20 Mbit/s), eth1 (204")
    assert plan.auto_weights(["eth0", "eth1", "eth2"], obs)[0] == weights    # idempotent

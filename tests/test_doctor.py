"""ifagg doctor: the diagnosis of real and synthetic /proc/net/bonding texts."""

from __future__ import annotations

import io
import json
import os

import pytest

from ifupdown_agg.bond import procfs as bondinfo
from ifupdown_agg.doctor import report as doctor
from ifupdown_agg.usb import facts as usbinfo
from ifupdown_agg.usb.facts import UsbNicFacts

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
USER_PASTE = os.path.join(FIXTURES, "proc-net-bonding-rtl8156-cdc_ncm.txt")
VM_CDC_NCM = os.path.join(FIXTURES, "proc-net-bonding-vm-cdc_ncm.txt")
VM_HEALTHY = os.path.join(FIXTURES, "proc-net-bonding-veth-lacp-ok.txt")
PEER_MAC = "52:54:00:00:00:99"
ZERO = bondinfo.ZERO_MAC


def lacp_bond(*slaves, min_links=0, active_ports=None):
    """A kernel-style 802.3ad text; each slave is a dict overriding healthy defaults."""
    slaves = [dict(dict(name=f"eth{i}", mii="up", speed=1000, duplex="full", agg=1,
                        partner=PEER_MAC, churn="none", state=63), **s)
              for i, s in enumerate(slaves)]
    ports = active_ports if active_ports is not None else \
        sum(1 for s in slaves if s["agg"] == slaves[0]["agg"] and s["mii"] == "up")
    lines = ["Ethernet Channel Bonding Driver: v6.1.0-56-amd64", "",
             "Bonding Mode: IEEE 802.3ad Dynamic link aggregation",
             "MII Status: up", "MII Polling Interval (ms): 100", "", "802.3ad info",
             "LACP rate: fast", f"Min links: {min_links}",
             "System MAC address: 52:54:00:00:00:01", "Active Aggregator Info:",
             f"\tAggregator ID: {slaves[0]['agg']}", f"\tNumber of ports: {ports}",
             f"\tPartner Mac Address: {slaves[0]['partner']}", ""]
    for s in slaves:
        lines += [f"Slave Interface: {s['name']}", f"MII Status: {s['mii']}",
                  f"Speed: {s['speed']} Mbps", f"Duplex: {s['duplex']}",
                  f"Aggregator ID: {s['agg']}", f"Partner Churn State: {s['churn']}",
                  "details actor lacp pdu:", f"    port state: {s['state']}",
                  "details partner lacp pdu:", f"    system mac address: {s['partner']}",
                  f"    port state: {s['state'] if s['partner'] != ZERO else 1}", ""]
    return bondinfo.parse("\n".join(lines), "bond0")


def codes(findings):
    return [f.code for f in findings]


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


# --- the RTL8156 on cdc_ncm case ---------------------------------------------

def test_user_paste_names_half_duplex_on_cdc_ncm_and_the_r8152_fix():
    findings = doctor.diagnose(bondinfo.read(USER_PASTE, "bond0"))
    assert codes(findings) == ["half-duplex", "no-partner", "split-aggregators"]
    half = findings[0]
    assert half.severity == "error"
    assert half.subject == "enx00e04c680152, enx00e04c6810e6"
    assert "cdc_ncm" in half.message and "RTL8156" in half.message
    assert "00:e0:4c" in half.message            # Realtek's prefix, seen in the paste
    assert "No 802.3ad response from the link partner" in half.message
    assert "r8152" in half.fix and 'ATTR{bConfigurationValue}="1"' in half.fix
    assert "TUN overlay" in half.fix
    assert "half-duplex" in findings[1].fix and "half-duplex" in findings[2].message


def test_vm_capture_of_cdc_ncm_is_inferred_the_same_way():
    findings = doctor.diagnose(bondinfo.read(VM_CDC_NCM, "bond0"))
    assert codes(findings)[0] == "half-duplex"
    assert "cdc_ncm" in findings[0].message and "r8152" in findings[0].fix


def test_live_facts_name_the_chip_and_driver():
    bond = bondinfo.read(USER_PASTE, "bond0")
    facts = {s.name: UsbNicFacts(s.name, driver="cdc_ncm", speed_mbps=2500, duplex="half",
                                 carrier=True, vendor_id="0bda", product_id="8156",
                                 configuration=2, num_configurations=3) for s in bond.slaves}
    half = doctor.diagnose(bond, facts)[0]
    assert half.code == "half-duplex"
    assert "the driver is cdc_ncm (a Realtek RTL8156 in its NCM configuration)" in half.message
    assert half.fix.startswith("Put the adapter into its vendor configuration")


def test_cdc_ncm_of_unknown_make_gets_a_conditional_r8152_fix():
    bond = lacp_bond(dict(duplex="half", partner=ZERO), dict(duplex="half", partner=ZERO, agg=2))
    facts = {s.name: UsbNicFacts(s.name, driver="cdc_ncm", duplex="half",
                                 vendor_id="1d6b", product_id="0103")
             for s in bond.slaves}
    half = doctor.diagnose(bond, facts)[0]
    assert "a USB adapter in its NCM configuration" in half.message
    assert half.fix.startswith("If the adapter is a Realtek RTL8156/RTL8153")


# --- one synthetic case per finding ------------------------------------------

def test_healthy_bonds_have_no_findings():
    assert doctor.diagnose(bondinfo.read(VM_HEALTHY, "bond0")) == []
    bond = lacp_bond({}, {})
    facts = {s.name: UsbNicFacts(s.name, driver="igb", speed_mbps=1000, duplex="full", carrier=True)
             for s in bond.slaves}
    assert doctor.diagnose(bond, facts) == []


def test_half_duplex_on_another_driver_gets_the_generic_fix():
    bond = lacp_bond(dict(duplex="half"), {})
    half = doctor.diagnose(bond, {"eth0": UsbNicFacts("eth0", driver="e1000e", duplex="half")})[0]
    assert (half.code, half.subject) == ("half-duplex", "eth0")
    assert "driver e1000e" in half.message and "r8152" not in half.fix
    assert "duplex full" in half.fix


def test_unknown_duplex_counts_as_not_full():
    findings = doctor.diagnose(lacp_bond(dict(duplex="unknown"), {}))
    assert codes(findings) == ["half-duplex"]
    assert "unknown duplex" in findings[0].message


def test_no_partner_without_duplex_trouble_points_at_the_partner():
    findings = doctor.diagnose(lacp_bond(dict(partner=ZERO), {}))
    no_partner = by_code(findings, "no-partner")
    assert no_partner.severity == "error" and no_partner.subject == "eth0"
    assert ZERO in no_partner.message and "LACP" in no_partner.fix
    assert "half-duplex" not in codes(findings)


def test_churned_partner_is_no_partner_too():
    findings = doctor.diagnose(lacp_bond(dict(churn="churned"), {}))
    assert codes(findings) == ["no-partner"]
    assert "churned" in findings[0].message


def test_split_aggregators():
    findings = doctor.diagnose(lacp_bond({}, dict(agg=2)))
    assert codes(findings) == ["split-aggregators"]
    split = findings[0]
    assert split.subject == "bond0" and split.severity == "warning"
    assert "aggregator 1: eth0; aggregator 2: eth1" in split.message


def test_speed_mismatch():
    findings = doctor.diagnose(lacp_bond({}, dict(speed=2500, agg=2)))
    assert codes(findings) == ["split-aggregators", "speed-mismatch"]
    assert "eth0 1000 Mbit/s, eth1 2500 Mbit/s" in by_code(findings, "speed-mismatch").message


def test_speed_from_sysfs_wins_over_the_text():
    bond = lacp_bond({}, {})
    facts = {"eth0": UsbNicFacts("eth0", speed_mbps=100), "eth1": UsbNicFacts("eth1", speed_mbps=1000)}
    assert codes(doctor.diagnose(bond, facts)) == ["speed-mismatch"]


def test_no_carrier():
    one_down = doctor.diagnose(lacp_bond({}, dict(mii="down")))
    assert codes(one_down) == ["no-carrier"]
    assert (one_down[0].severity, one_down[0].subject) == ("warning", "eth1")
    bond = lacp_bond({}, {})
    all_down = doctor.diagnose(bond, {s.name: UsbNicFacts(s.name, carrier=False) for s in bond.slaves})
    assert {(f.code, f.severity) for f in all_down} == {("no-carrier", "error")}


def test_min_links_not_met():
    findings = doctor.diagnose(lacp_bond({}, dict(mii="down"), min_links=2))
    min_links = by_code(findings, "min-links")
    assert min_links.severity == "error" and min_links.subject == "bond0"
    assert "min_links is 2 but there is only 1" in min_links.message
    assert "min_links" in min_links.fix


def test_min_links_met_is_quiet():
    assert doctor.diagnose(lacp_bond({}, {}, min_links=2)) == []


def test_bond_without_slaves():
    bond = bondinfo.parse("Bonding Mode: IEEE 802.3ad Dynamic link aggregation\n", "bond9")
    assert codes(doctor.diagnose(bond)) == ["no-slaves"]


# --- sysfs facts --------------------------------------------------------------

def test_read_slave_facts_from_a_sysfs_tree(tmp_path):
    usb_device = tmp_path / "devices" / "usb2" / "2-1"
    interface = usb_device / "2-1:2.0"
    interface.mkdir(parents=True)
    for name, value in dict(idVendor="0bda", idProduct="8156", product="USB 10/100/1G/2.5G LAN",
                            bConfigurationValue="2", bNumConfigurations="3").items():
        (usb_device / name).write_text(value + "\n")
    drivers = tmp_path / "drivers" / "cdc_ncm"
    drivers.mkdir(parents=True)
    (interface / "driver").symlink_to(drivers)
    net = tmp_path / "class" / "net" / "enx00e04c680152"
    net.mkdir(parents=True)
    (net / "device").symlink_to(interface)
    for name, value in dict(speed="2500", duplex="half", carrier="1").items():
        (net / name).write_text(value + "\n")
    facts = doctor.read_slave_facts("enx00e04c680152", str(tmp_path))
    assert (facts.driver, facts.speed_mbps, facts.duplex, facts.carrier) == \
        ("cdc_ncm", 2500, "half", True)
    assert (facts.vendor_id, facts.product_id, facts.product, facts.configuration,
            facts.num_configurations) == ("0bda", "8156", "USB 10/100/1G/2.5G LAN", 2, 3)
    assert facts.is_usb and usbinfo.chip(facts) == "RTL8156"


def test_read_slave_facts_of_a_virtual_link(tmp_path):
    (tmp_path / "class" / "net" / "veth0").mkdir(parents=True)
    (tmp_path / "class" / "net" / "veth0" / "speed").write_text("-1\n")
    facts = doctor.read_slave_facts("veth0", str(tmp_path))
    assert facts == UsbNicFacts("veth0") and not facts.is_usb


# --- command line -------------------------------------------------------------

def test_cli_on_the_user_paste(capsys):
    assert doctor.main(["--proc-file", USER_PASTE]) == 1
    out = capsys.readouterr().out
    assert "ERROR half-duplex: enx00e04c680152, enx00e04c6810e6" in out
    assert "Fix: Put the adapter into its vendor configuration" in out
    assert '      ACTION=="add", SUBSYSTEM=="usb"' in out      # the rule stays one line


def test_cli_json(capsys):
    assert doctor.main(["--json", "--proc-file", USER_PASTE]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["code"] for f in findings] == ["half-duplex", "no-partner", "split-aggregators"]
    assert set(findings[0]) == {"bond", "severity", "code", "subject", "message", "fix"}
    assert findings[0]["bond"] == "proc-net-bonding-rtl8156-cdc_ncm.txt"


def test_cli_healthy_exits_0(capsys):
    assert doctor.main(["--proc-file", VM_HEALTHY]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_cli_reads_stdin(monkeypatch, capsys):
    with open(USER_PASTE) as fh:
        monkeypatch.setattr("sys.stdin", io.StringIO(fh.read()))
    assert doctor.main(["--json", "--proc-file", "-"]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["bond"] == "stdin"


def test_cli_usage_errors(tmp_path, capsys):
    assert doctor.main(["--proc-file", str(tmp_path / "missing")]) == 2
    assert doctor.main(["no-such-bond-xyz"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        doctor.main(["--proc-file", USER_PASTE, "bond0"])
    assert exit_info.value.code == 2


# --- the USB report -------------------------------------------------------------

def _usb_sysfs():
    import importlib.util
    spec = importlib.util.spec_from_file_location("usb_sysfs", os.path.join(FIXTURES, "usb_sysfs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


usb_sysfs = _usb_sysfs()


@pytest.fixture
def fs(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "PROC_BONDING", str(tmp_path / "no-bonding"))
    return usb_sysfs.FakeSys(tmp_path)


def usb_findings(fs):
    from ifupdown_agg.kernel import usb as usbread
    return doctor.diagnose_usb(*usbread.read_all(None, fs.sysfs_root, fs.dt_root))


def roots(fs):
    return ["--sysfs-root", fs.sysfs_root, "--dt-root", fs.dt_root]


def test_usb_rtl8156_on_cdc_ncm_points_at_the_udev_rule(fs):
    usb_sysfs.rtl8156_cdc_ncm(fs, "5000")
    findings = usb_findings(fs)
    assert codes(findings) == ["realtek-not-r8152"]
    finding = findings[0]
    assert (finding.severity, finding.subject) == ("warning", "enx00e04c680152")
    assert "RTL8156 in its NCM configuration (USB configuration 2)" in finding.message
    assert "driven by cdc_ncm instead of r8152" in finding.message
    assert "half duplex" in finding.message and "LACP" in finding.message
    assert doctor.UDEV_RULE in finding.fix and "replug" in finding.fix
    assert "configuration selector" in finding.fix and "overlay" in finding.fix


def test_usb_rtl8156_at_480_is_told_to_move_to_a_usb3_port(fs):
    usb_sysfs.rtl8156_cdc_ncm(fs, "480")
    findings = usb_findings(fs)
    assert codes(findings) == ["realtek-not-r8152", "usb3-at-usb2"]   # the bus: said here
    usb2 = by_code(findings, "usb3-at-usb2")
    assert usb2.severity == "warning"
    assert "enx00e04c680152 (RTL8156, 0bda:8156) is USB 3 capable but negotiated 480 Mbit/s" in usb2.message
    assert "~300 Mbit/s at most, not its 2500 Mbit/s" in usb2.message
    assert "USB 3 port (blue" in usb2.fix and "/sys/bus/usb/devices/1-1/speed" in usb2.fix


def test_usb_rtl8156_on_r8152_at_5000_is_healthy(fs):
    usb_sysfs.rtl8156_r8152(fs)
    assert usb_findings(fs) == []


def test_usb_pi3b_shared_bus(fs):
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    findings = usb_findings(fs)
    assert codes(findings) == ["usb2-shared-bus"]     # no usb3-at-usb2 on a Pi 3: no USB 3 port
    bus = findings[0]
    assert (bus.severity, bus.subject) == ("info", "eth0, eth1")
    assert "Raspberry Pi 3 Model B Rev 1.2 has one USB 2.0 bus (480 Mbit/s)" in bus.message
    assert "eth0 (onboard), eth1 share it" in bus.message
    assert "about 224 Mbit/s for all of them together, not the 1100 Mbit/s" in bus.message
    assert "weights (Mbit/s): eth0 20, eth1 204" in bus.message
    assert "agg-weights auto" in bus.fix


def test_usb_plusb_cable(fs):
    usb_sysfs.pl25a1_plusb(fs)
    findings = usb_findings(fs)
    assert codes(findings) == ["plusb-link"]
    cable = findings[0]
    assert cable.severity == "info" and cable.subject == "usb0"
    assert "PL-25A1" in cable.message and "plusb" in cable.message
    assert "sees it as a NIC too" in cable.message and "~300 Mbit/s" in cable.message


def test_usb_gadget_side_gets_no_host_findings(fs):
    usb_sysfs.pi_zero_gadget(fs)
    assert [f for f in usb_findings(fs) if f.code != "usb2-shared-bus"] == []


def test_cli_usb_text(fs, capsys):
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    usb_sysfs.pl25a1_plusb(fs)
    assert doctor.main(["--usb"] + roots(fs)) == 0          # info only
    out = capsys.readouterr().out
    assert out.startswith("USB links (Raspberry Pi 3 Model B Rev 1.2)\n")
    assert "  eth0: smsc95xx, full duplex, 100 Mbit/s; USB 0424:ec00 (LAN9514) at 480 Mbit/s, " \
           "bus 1 port 1.1, onboard\n" in out
    assert "  eth1: ax88179_178a, full duplex, 1000 Mbit/s; USB 0b95:1790 (AX88179, USB 3 " \
           "capable) at 480 Mbit/s, bus 1 port 1.3, serial 0000249B0A1C\n" in out
    assert "  usb0: plusb, unknown duplex, speed unknown; USB 067b:25a1 (PL-25A1)" in out
    assert "INFO usb2-shared-bus: eth0, eth1, usb0" in out
    assert "INFO plusb-link: usb0" in out
    assert "no bonds found" not in out


def test_cli_usb_json(fs, capsys):
    usb_sysfs.rtl8156_cdc_ncm(fs, "480")
    assert doctor.main(["--usb", "--json"] + roots(fs)) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["pi"] is None and report["usb2_bus_budget_mbps"] == 224
    (nic,) = report["nics"]
    assert {k: nic[k] for k in ("name", "role", "driver", "duplex", "speed_mbps", "usb_id",
                                "chip", "usb_speed_mbps", "usb3_capable", "usable_mbps")} == \
        dict(name="enx00e04c680152", role="host", driver="cdc_ncm", duplex="half",
             speed_mbps=2500, usb_id="0bda:8156", chip="RTL8156", usb_speed_mbps=480,
             usb3_capable=True, usable_mbps=224)
    assert [f["code"] for f in report["findings"]][:2] == ["realtek-not-r8152", "usb3-at-usb2"]
    assert set(report["findings"][0]) == {"bond", "severity", "code", "subject", "message", "fix"}


def test_cli_usb_json_on_a_pi(fs, capsys):
    usb_sysfs.pi3b_smsc95xx_ax88179(fs)
    assert doctor.main(["--usb", "--json"] + roots(fs)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pi"] == dict(model="Raspberry Pi 3 Model B Rev 1.2", generation=3,
                                onboard_ethernet="smsc95xx", shared_usb2_bus=True)
    assert {n["name"]: (n["usable_mbps"], n["onboard"]) for n in report["nics"]} == \
        {"eth0": (20, True), "eth1": (204, False)}


def test_cli_without_bonds_adds_the_usb_report_when_usb_links_exist(fs, capsys):
    usb_sysfs.rtl8156_cdc_ncm(fs, "5000")
    assert doctor.main(roots(fs)) == 1
    out = capsys.readouterr().out
    assert out.startswith("no bonds found\n\nUSB links\n")
    assert "WARNING realtek-not-r8152: enx00e04c680152" in out
    assert doctor.main(["--json"] + roots(fs)) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(f["bond"], f["code"]) for f in report["findings"]] == [(None, "realtek-not-r8152")]
    assert report["version"] == 1 and [n["name"] for n in report["nics"]] == ["enx00e04c680152"]


def test_cli_without_bonds_or_usb_links_says_so(fs, capsys):
    fs.pci_nic("enp1s0")
    assert doctor.main(roots(fs)) == 0
    assert capsys.readouterr().out == "no bonds found\n"
    assert doctor.main(["--usb"] + roots(fs)) == 0
    assert "no USB network links found" in capsys.readouterr().out


def test_cli_named_bond_leaves_usb_out(fs, capsys):
    usb_sysfs.rtl8156_cdc_ncm(fs, "5000")
    assert doctor.main(["--proc-file", VM_HEALTHY] + roots(fs)) == 0
    assert "USB links" not in capsys.readouterr().out
    assert doctor.main(["--proc-file", VM_HEALTHY, "--usb"] + roots(fs)) == 1
    out = capsys.readouterr().out
    assert "no problems found" in out and "realtek-not-r8152" in out

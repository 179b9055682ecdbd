"""ifagg doctor: the diagnosis of real and synthetic /proc/net/bonding texts."""

from __future__ import annotations

import io
import json
import os

import pytest

from ifupdown_agg import bondinfo, doctor
from ifupdown_agg.doctor import SlaveFacts, UsbFacts

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
    usb = UsbFacts(vendor_id="0bda", product_id="8156", configuration=2, num_configurations=3)
    facts = {s.name: SlaveFacts(driver="cdc_ncm", speed_mbps=2500, duplex="half",
                                carrier=True, usb=usb) for s in bond.slaves}
    half = doctor.diagnose(bond, facts)[0]
    assert half.code == "half-duplex"
    assert "the driver is cdc_ncm (a Realtek RTL8156 in its NCM configuration)" in half.message
    assert half.fix.startswith("Put the adapter into its vendor configuration")


def test_cdc_ncm_of_unknown_make_gets_a_conditional_r8152_fix():
    bond = lacp_bond(dict(duplex="half", partner=ZERO), dict(duplex="half", partner=ZERO, agg=2))
    facts = {s.name: SlaveFacts(driver="cdc_ncm", duplex="half",
                                usb=UsbFacts(vendor_id="1d6b", product_id="0103"))
             for s in bond.slaves}
    half = doctor.diagnose(bond, facts)[0]
    assert "a USB adapter in its NCM configuration" in half.message
    assert half.fix.startswith("If the adapter is a Realtek RTL8156/RTL8153")


# --- one synthetic case per finding ------------------------------------------

def test_healthy_bonds_have_no_findings():
    assert doctor.diagnose(bondinfo.read(VM_HEALTHY, "bond0")) == []
    bond = lacp_bond({}, {})
    facts = {s.name: SlaveFacts(driver="igb", speed_mbps=1000, duplex="full", carrier=True)
             for s in bond.slaves}
    assert doctor.diagnose(bond, facts) == []


def test_half_duplex_on_another_driver_gets_the_generic_fix():
    bond = lacp_bond(dict(duplex="half"), {})
    half = doctor.diagnose(bond, {"eth0": SlaveFacts(driver="e1000e", duplex="half")})[0]
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
    assert "eth0 1000 Mb/s, eth1 2500 Mb/s" in by_code(findings, "speed-mismatch").message


def test_speed_from_sysfs_wins_over_the_text():
    bond = lacp_bond({}, {})
    facts = {"eth0": SlaveFacts(speed_mbps=100), "eth1": SlaveFacts(speed_mbps=1000)}
    assert codes(doctor.diagnose(bond, facts)) == ["speed-mismatch"]


def test_no_carrier():
    one_down = doctor.diagnose(lacp_bond({}, dict(mii="down")))
    assert codes(one_down) == ["no-carrier"]
    assert (one_down[0].severity, one_down[0].subject) == ("warning", "eth1")
    bond = lacp_bond({}, {})
    all_down = doctor.diagnose(bond, {s.name: SlaveFacts(carrier=False) for s in bond.slaves})
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
    facts = doctor.read_slave_facts("enx00e04c680152", str(tmp_path / "class" / "net"))
    assert (facts.driver, facts.speed_mbps, facts.duplex, facts.carrier) == \
        ("cdc_ncm", 2500, "half", True)
    assert facts.usb == UsbFacts("0bda", "8156", "USB 10/100/1G/2.5G LAN", 2, 3)
    assert facts.usb.chip == "RTL8156"


def test_read_slave_facts_of_a_virtual_link(tmp_path):
    (tmp_path / "veth0").mkdir()
    (tmp_path / "veth0" / "speed").write_text("-1\n")
    facts = doctor.read_slave_facts("veth0", str(tmp_path))
    assert facts == SlaveFacts()


# --- command line -------------------------------------------------------------

def test_cli_on_the_user_paste(capsys):
    assert doctor.main(["--proc-file", USER_PASTE]) == 1
    out = capsys.readouterr().out
    assert "ERROR half-duplex: enx00e04c680152, enx00e04c6810e6" in out
    assert "Fix: Put the adapter into its vendor configuration" in out
    assert '      ACTION=="add", SUBSYSTEM=="usb"' in out      # the rule stays one line


def test_cli_json(capsys):
    assert doctor.main(["--json", "--proc-file", USER_PASTE]) == 1
    findings = json.loads(capsys.readouterr().out)
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
    assert json.loads(capsys.readouterr().out)[0]["bond"] == "stdin"


def test_cli_usage_errors(tmp_path, capsys):
    assert doctor.main(["--proc-file", str(tmp_path / "missing")]) == 2
    assert doctor.main(["no-such-bond-xyz"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        doctor.main(["--proc-file", USER_PASTE, "bond0"])
    assert exit_info.value.code == 2

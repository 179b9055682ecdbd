"""What bond-preflight says about a port before 802.3ad enslaves it (pure)."""

from ifupdown_agg.bond.preflight import check_ports
from ifupdown_agg.core.objects import LinkFacts


def port(name, driver, speed, duplex, carrier):
    """What kernel/ethtool.port_facts fills in of a link's facts."""
    return LinkFacts(name, driver=driver, speed_mbps=speed, duplex=duplex, carrier=carrier)


def facts(*ports):
    return {p.name: p for p in ports}


def test_full_duplex_ports_of_one_speed_pass():
    assert check_ports(facts(port("eth1", "r8152", 2500, "full", True),
                             port("eth2", "r8152", 2500, "full", True)), {}) == []


def test_rtl8156_on_cdc_ncm_names_driver_and_r8152_fix_once_for_both_ports():
    [problem] = check_ports(facts(port("usb0", "cdc_ncm", 425, "half", True),
                                  port("usb1", "cdc_ncm", 425, "half", True)),
                            {"usb0": True, "usb1": True})
    assert problem.code == "half-duplex" and problem.ports == ("usb0", "usb1")
    assert problem.message.startswith("usb0, usb1 (driver cdc_ncm, 425 Mbit/s) report half duplex")
    assert "RTL8156/RTL8153 in its NCM configuration" in problem.message
    assert "No 802.3ad response from the link partner" in problem.message
    assert "bConfigurationValue" in problem.fix and "r8152" in problem.fix


def test_unknown_duplex_is_a_problem_too():
    [problem] = check_ports(facts(port("eth1", None, None, "unknown", False)), {})
    assert problem.code == "unknown-duplex"
    assert "eth1 (driver unknown) reports unknown duplex" in problem.message
    assert "overlay" in problem.fix


def test_speed_mismatch_counts_ports_already_in_the_bond():
    [problem] = check_ports(facts(port("eth2", "r8169", 1000, "full", True)), {},
                            others={"eth1": 2500})
    assert problem.code == "speed-mismatch"
    assert "eth1 2500 Mbit/s, eth2 1000 Mbit/s" in problem.message


def test_doctor_and_preflight_say_the_same_of_a_cdc_ether_port():
    """cdc_ether is cdc_ncm's twin (an RTL8156 in its ECM configuration): both
    checks name the driver and the configuration alike, with the same fix."""
    from ifupdown_agg.bond.procfs import parse
    from ifupdown_agg.doctor import report as doctor
    from ifupdown_agg.usb.facts import UsbNicFacts
    [problem] = check_ports(facts(port("usb0", "cdc_ether", 1000, "half", True)),
                            {"usb0": False})
    bond = parse("Bonding Mode: IEEE 802.3ad Dynamic link aggregation\n\n"
                 "Slave Interface: usb0\nMII Status: up\nSpeed: 1000 Mbps\n"
                 "Duplex: half\n", "bond0")
    [half] = [f for f in doctor.diagnose(bond, {"usb0": UsbNicFacts(
        "usb0", driver="cdc_ether", speed_mbps=1000, duplex="half", carrier=True)})
        if f.code == "half-duplex"]
    verdict = "the driver is cdc_ether (a USB adapter in its ECM configuration)"
    assert verdict in problem.message and verdict in half.message
    assert problem.fix == half.fix and "r8152" in half.fix

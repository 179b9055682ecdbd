"""The /proc/net/bonding parser, on real texts: a user's paste without
indentation, and two captured in the VM tier (vm/guest/*.sh)."""

from __future__ import annotations

import os

from ifupdown_agg.bond import procfs as bondinfo
from ifupdown_agg.bond.procfs import PortState

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def fixture(name: str) -> bondinfo.BondInfo:
    return bondinfo.read(os.path.join(FIXTURES, name), "bond0")


def test_user_paste_without_indentation():
    bond = fixture("proc-net-bonding-rtl8156-cdc_ncm.txt")
    assert bond.driver_version == "v6.1.15-1-pve"
    assert bond.is_8023ad
    assert bond.lacp_rate == "slow"
    assert bond.min_links == 0
    assert bond.miimon_ms == 100
    assert bond.system_mac == "8a:f5:1c:f4:8b:70"
    assert bond.active_aggregator.aggregator_id == 1
    assert bond.active_aggregator.number_of_ports == 1
    assert bond.partner_mac == bondinfo.ZERO_MAC
    assert [s.name for s in bond.slaves] == ["enx00e04c680152", "enx00e04c6810e6"]
    first, second = bond.slaves
    assert (first.speed_mbps, first.duplex, first.mii_status) == (2500, "half", "up")
    assert (first.aggregator_id, second.aggregator_id) == (1, 2)
    assert first.partner_churn_state == "churned" and second.actor_churned_count == 1
    assert first.permanent_hw_addr == "00:e0:4c:68:01:52"
    # the unindented pdu blocks land in the right slave and side
    assert (first.actor.port_state, second.actor.port_state) == (77, 69)
    assert first.actor.key == 10 and first.actor.port_number == 1
    assert second.partner.system_mac == bondinfo.ZERO_MAC
    assert second.partner.key == 1 and second.partner.port_state == 1
    assert bond.other == {"Peer Notification Delay (ms)": "0"}
    assert first.other == {} and second.other == {}


def test_healthy_lacp_captured_in_the_vm():
    bond = fixture("proc-net-bonding-veth-lacp-ok.txt")
    assert bond.lacp_rate == "fast"
    assert bond.active_aggregator.number_of_ports == 2
    assert bond.partner_mac not in (None, bondinfo.ZERO_MAC)
    assert {s.aggregator_id for s in bond.slaves} == {1}
    for slave in bond.slaves:
        assert (slave.speed_mbps, slave.duplex) == (10000, "full")
        assert slave.actor.port_state == slave.partner.port_state == 63
        assert slave.actor.settled and slave.partner.settled
        assert slave.partner.system_mac == bond.partner_mac


def test_cdc_ncm_failure_captured_in_the_vm():
    bond = fixture("proc-net-bonding-vm-cdc_ncm.txt")
    assert bond.active_aggregator.actor_key == 0
    assert [s.duplex for s in bond.slaves] == ["half", "half"]
    assert [s.aggregator_id for s in bond.slaves] == [1, 2]
    assert all(s.partner.system_mac == bondinfo.ZERO_MAC for s in bond.slaves)
    assert not any(s.actor.settled for s in bond.slaves)


def test_indented_and_flat_text_parse_alike():
    with open(os.path.join(FIXTURES, "proc-net-bonding-veth-lacp-ok.txt")) as fh:
        text = fh.read()
    flat = "\n".join(line.strip() for line in text.splitlines())
    assert bondinfo.parse(flat, "bond0") == bondinfo.parse(text, "bond0")


def test_port_state_bits():
    assert PortState(63) == (PortState.ACTIVITY | PortState.SHORT_TIMEOUT | PortState.AGGREGATION
                             | PortState.SYNCHRONIZATION | PortState.COLLECTING
                             | PortState.DISTRIBUTING)
    assert PortState(77) & PortState.DEFAULTED


def test_active_backup_and_unknown_values():
    bond = bondinfo.parse(
        "Bonding Mode: fault-tolerance (active-backup)\n"
        "Primary Slave: None\n"
        "Currently Active Slave: eth1\n"
        "MII Status: up\n"
        "\n"
        "Slave Interface: eth0\n"
        "MII Status: down\n"
        "Speed: Unknown\n"
        "Duplex: Unknown\n"
        "\n"
        "Slave Interface: eth1\n"
        "MII Status: up\n"
        "Speed: 1000 Mbps\n"
        "Duplex: full\n", "bond1")
    assert bond.name == "bond1" and not bond.is_8023ad
    assert bond.currently_active_slave == "eth1"
    assert bond.other["Primary Slave"] == "None"
    assert bond.active_aggregator is None
    eth0 = bond.slave("eth0")
    assert (eth0.up, eth0.speed_mbps, eth0.duplex) == (False, None, "unknown")
    assert eth0.actor is None and eth0.partner is None
    assert bond.slave("eth1").speed_mbps == 1000


def test_read_names_the_bond_after_the_file(tmp_path):
    path = tmp_path / "bond7"
    path.write_text("Bonding Mode: load balancing (round-robin)\n")
    assert bondinfo.read(str(path)).name == "bond7"

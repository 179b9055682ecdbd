"""The VM tier end to end: boot Debian's stock kernel under QEMU and run the
guest scripts in vm/guest/ through vm/run (see vm/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ifupdown_agg import bondinfo, doctor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_RUN = os.path.join(REPO, "vm", "run")
GUEST_TIMEOUT = 300


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("qemu-system-x86_64"):
        return "needs qemu-system-x86_64 (apt install qemu-system-x86)"
    return ""


pytestmark = [pytest.mark.vm, pytest.mark.skipif(bool(_missing()), reason=_missing())]


def run_guest(script: str, results) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [VM_RUN, "--timeout", str(GUEST_TIMEOUT), "--results", str(results),
         os.path.join(REPO, "vm", "guest", script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=GUEST_TIMEOUT + 120)       # kernel download and image build on a cold cache
    print(proc.stdout)
    return proc


def test_veth_lacp_bonds_aggregate(tmp_path):
    proc = run_guest("bond-veth-lacp.sh", tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "OK: LACP settled" in proc.stdout
    a, b = (bondinfo.read(str(tmp_path / f"proc-net-bonding-{ns}.txt")) for ns in "ab")
    for bond, peer in ((a, b), (b, a)):
        assert bond.partner_mac == peer.system_mac
        assert bond.active_aggregator.number_of_ports == 2
        assert len({s.aggregator_id for s in bond.slaves}) == 1
        assert all(s.actor.port_state == s.partner.port_state == 63 for s in bond.slaves)
        assert doctor.diagnose(bond) == []


def test_cdc_ncm_bond_fails_on_half_duplex_and_doctor_says_so(tmp_path):
    proc = run_guest("bond-cdc-ncm.sh", tmp_path)
    assert proc.returncode == 0, proc.stdout
    bond = bondinfo.read(str(tmp_path / "proc-net-bonding-cdc_ncm.txt"))
    assert [s.duplex for s in bond.slaves] == ["half", "half"]
    assert len({s.aggregator_id for s in bond.slaves}) == 2
    assert bond.partner_mac == bondinfo.ZERO_MAC
    assert bond.active_aggregator.actor_key == 0
    with open(tmp_path / "dmesg.txt") as fh:
        assert "No 802.3ad response from the link partner" in fh.read()
    with open(tmp_path / "doctor-live.json") as fh:
        live = json.load(fh)
    assert live[0]["code"] == "half-duplex"
    assert "the driver is cdc_ncm (a Realtek RTL8156" in live[0]["message"]

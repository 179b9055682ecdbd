"""The VM tier end to end: boot Debian's stock kernel under QEMU and run the
guest scripts in vm/guest/ through vm/run (see vm/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ifupdown_agg.bond import procfs as bondinfo
from ifupdown_agg.doctor import report as doctor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_RUN = os.path.join(REPO, "vm", "run")
GUEST_TIMEOUT = 1200    # TCG on two busy cores: every ifup or ifdown in a guest takes 15-28 s
                        # (python imports pyroute2 per hook phase); the USB guest took 600+ s


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
        live = json.load(fh)["findings"]
    assert live[0]["code"] == "half-duplex"
    assert "the driver is cdc_ncm (a Realtek RTL8156" in live[0]["message"]


# ---- our own code in the VM: real ifup, our hooks --------------------------------------


def _results(tmp_path, name):
    with open(tmp_path / name) as fh:
        return json.load(fh)


def test_ifup_makes_8023ad_bonds_in_both_stanza_orders(tmp_path):
    proc = run_guest("bond_ifup.py", tmp_path)
    assert proc.returncode == 0, proc.stdout
    check_bond_results(_results(tmp_path, "bond-ifup.json"))


PYPI_SITE = os.environ.get("IFAGG_VM_PYPI_SITE", "")


@pytest.mark.skipif(not PYPI_SITE, reason="IFAGG_VM_PYPI_SITE (a site-packages with PyPI's "
                                          "pyroute2 and netaddr) is set by tools/test pass 2")
def test_bonds_with_pyroute2_and_netaddr_from_pypi(tmp_path):
    for package in ("pyroute2", "netaddr"):
        shutil.copytree(os.path.join(PYPI_SITE, package), tmp_path / "py" / package)
    proc = run_guest("bond_ifup_pypi.sh", tmp_path)
    assert proc.returncode == 0, proc.stdout
    with open(tmp_path / "versions.txt") as fh:
        print(fh.read())
    check_bond_results(_results(tmp_path, "bond-ifup.json"))


def check_bond_results(r):
    # a: the bond's stanza lists its ports; b: the ports come first with bond-master.
    assert r["ifup_a"]["rc"] == 0 and r["ifup_b"]["rc"] == 0, (r["ifup_a"], r["ifup_b"])
    assert "ip link add bond0 type bond mode 802.3ad" in r["ifup_a"]["out"]
    b_out = r["ifup_b"]["out"]
    assert b_out.index("configuring interface b1") < b_out.index("ip link add bond0")
    a, b = (bondinfo.parse(r[f"bonding_{ns}"], "bond0") for ns in "ab")
    for bond, peer in ((a, b), (b, a)):
        assert len({s.aggregator_id for s in bond.slaves}) == 1
        assert bond.partner_mac == peer.system_mac != bondinfo.ZERO_MAC
        assert all(s.actor.settled and s.partner.settled for s in bond.slaves)
    assert a.transmit_hash_policy.startswith("layer3+4") and a.min_links == 1
    assert r["ping"] == 0
    assert r["doctor_a"]["findings"] == []
    # Applying again changes nothing.
    assert r["plan_again_a"] == [] and r["plan_again_b"] == []
    # lacp_rate is refused by the kernel while the bond is up: down, set, up; nothing else.
    kinds = [(op["action"], op["obj"]["kind"]) for op in r["plan_rate_change"]]
    assert kinds == [("set", "link"), ("set", "bondset"), ("set", "link")]
    assert r["plan_rate_change"][1]["obj"]["values"] == [["ad_lacp_rate", 0]]
    assert r["up_rate_change"][0] == 0 and r["lacp_rate_after"].startswith("slow")
    # miimon and the hash policy change while the bond is up: one set, no down.
    assert r["plan_live_change"] == ["bondset"]
    assert r["up_live_change"][0] == 0 and r["miimon_after"] == "200"
    # A new mode needs the bond without ports and down; the ports come back.
    assert r["plan_mode_change"] == ["del slave", "del slave", "set link", "set bondset",
                                     "set link", "add slave", "add slave"]
    assert r["up_mode_change"][0] == 0, r["up_mode_change"]
    assert r["mode_after"].startswith("balance-xor") and r["ports_after_mode_change"] == "a1 a2"
    # ifdown removes exactly what ifup made: the bonds go, the veth ports stay, released.
    assert r["ifdown_a"] == 0 and r["ifdown_b"] == 0
    for links in r["links_after_down"].values():
        assert "bond0" not in links and "master" not in links
        assert links.count("@if") == 2
    # Debian's ifenslave installed: its hook ran, ours stepped aside.
    aside = r["step_aside"]
    assert "ifenslave ran for bond0" in aside["stderr"]
    assert "ifenslave is installed and handles the bond-* options" in aside["stderr"]
    assert "bond0" not in aside["links"]
    # A port that is not there: refused with file, line, option and token; nothing made.
    missing = r["missing_port"]
    assert missing["rc"] != 0
    assert "/etc/network/interfaces:4: bond0: bond-slaves: no interface a9" in missing["stderr"]
    assert "bond0" not in missing["links"] and "master" not in missing["links"]


def test_usb_links_from_stanzas(tmp_path):
    proc = run_guest("usb_links.py", tmp_path)
    assert proc.returncode == 0, proc.stdout
    r = _results(tmp_path, "usb-links.json")
    # Each gadget error names its cause and leaves no gadget behind.
    expected = {
        "err_configfs": "configfs is not mounted at /sys/kernel/config: mount -t configfs",
        "err_libcomposite": "libcomposite is not loaded",
        "err_no_udc": "dtoverlay=dwc2 to config.txt and modules-load=dwc2 to cmdline.txt",
        "err_udc_in_use": "dummy_udc.0 is already used by the gadget 'ifagg_usbg0'",
        "err_mac_clash": "usbg9: usbnet-dev-addr 02:1d:6b:00:00:11 is already the MAC of usbc0",
    }
    for key, text in expected.items():
        assert r[key]["rc"] != 0 and text in r[key]["stderr"], (key, r[key])
        assert "ifagg_usbg9" not in r[key]["gadgets_after"]
    assert r["err_configfs"]["gadgets_after"] == []
    # The .link files come from the controller's usbnet-match stanzas.
    assert r["links"]["rc"] == 0, r["links"]
    assert {"70-ifagg-usbc0.link", "70-ifagg-usbh1.link", "70-ifagg-usbh2.link"} <= set(r["links"]["files"])
    # ifup made the NCM gadget; the host side came up on cdc_ncm under its stable name.
    assert r["ifup_usbg0"]["rc"] == 0, r["ifup_usbg0"]
    assert r["gadget_after_up"] == ["ifagg_usbg0"]
    assert r["host_side_named"] and r["host_side_driver"] == "cdc_ncm"
    assert r["carrier_first_plug"] == "1"
    # A replug: the watch saw the host enumerate the gadget again and bounced its side.
    assert "a host enumerated the gadget on dummy_udc.0; down and up" in r["watch_log_replug"]
    assert r["carrier_replug"] == "1"
    assert r["carrier"]["usbg0"] == r["carrier"]["usbc0"] == "1"
    # The overlay over a veth link and the USB link: both links carry the flow.
    assert r["ping_overlay"] == 0
    assert isinstance(r["overlay_bits_per_s"], float) and r["overlay_bits_per_s"] > 0
    carried = {link["dev"]: link["packets"] for link in r["status_g"]["links"]}
    assert carried["usbg0"] > 0 and carried["veth9"] > 0, carried
    # 802.3ad over two cdc_ncm links: strict refuses with the cause, warn goes on and
    # does not aggregate, and doctor says why.
    assert r["bond_strict"]["rc"] != 0
    assert "usbh1, usbh2 (driver cdc_ncm, 425 Mbit/s) report half duplex" in r["bond_strict"]["stderr"]
    assert "Refused (bond-preflight strict)" in r["bond_strict"]["stderr"]
    assert "bond1" not in r["bond_strict"]["links"] and "master" not in r["bond_strict"]["links"]
    assert r["bond_warn"]["rc"] == 0 and "warning: bond1" in r["bond_warn"]["stderr"]
    bond = bondinfo.parse(r["bonding_c"], "bond1")
    assert len({s.aggregator_id for s in bond.slaves}) == 2
    found = r["doctor_c"]["findings"]
    assert found[0]["code"] == "half-duplex" and "cdc_ncm" in found[0]["message"]
    # doctor --usb with real drivers: each USB NIC's driver, and the Realtek stand-ins on
    # cdc_ncm instead of r8152.
    nics = {n["name"]: n for n in r["doctor_usb"]["nics"]}
    assert nics["usbh1"]["driver"] == nics["usbh2"]["driver"] == "cdc_ncm"
    realtek = [f for f in r["doctor_usb"]["findings"] if f["code"] == "realtek-not-r8152"]
    assert realtek and "usbh1" in realtek[0]["subject"] and "usbh2" in realtek[0]["subject"]
    # The fallback: the overlay over the same two cdc_ncm links carries one flow on both.
    assert r["usb_overlay_pings"] is not None, r["usb_links_before_overlay"]
    assert isinstance(r["usb_overlay_bits_per_s"], float), (r["usb_overlay_bits_per_s"],
                                                           r["usb_overlay_status_before"])
    assert all(n > 0 for n in r["usb_overlay_links"].values()), r["usb_overlay_links"]
    assert sorted(r["usb_overlay_links"]) == ["usbh1", "usbh2"]
    # ifdown removed every gadget; cleanup finds one by its name.
    assert r["gadgets_after_down"] == []
    assert r["gadgets_before_cleanup"] == ["ifagg_usbg0"] and r["gadgets_after_cleanup"] == []
    # `ifagg usbnet up|down`, as the networkd gadget unit runs it.
    assert r["cli_gadgets_up"] == ["ifagg_usbg0"] and r["cli_iface"], r["cli_up"]
    assert r["cli_gadgets_down"] == [], r["cli_down"]
    for iface in ("bond1", "usbg2", "usbg1", "usbg0"):
        assert r[f"ifdown_g_{iface}"]["rc"] == 0


def test_autopkgtest_bond_smoke_passes_on_the_stock_kernel(tmp_path):
    proc = run_guest("bond-smoke.sh", tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "bond-smoke: ok" in proc.stdout and "no problems found" in proc.stdout


def test_realtek_udev_rule_moves_an_rtl8156_to_its_vendor_configuration(tmp_path):
    proc = run_guest("realtek-udev-rule.sh", tmp_path)
    assert proc.returncode == 0, proc.stdout
    r = _results(tmp_path, "realtek-udev.json")
    assert r["without"] == "2" and "cdc_ncm" in r["drivers_without"]
    assert r["with"] == "1"


def test_try_reverts_a_bond_option_and_a_usb_gadget_on_timeout_and_keeps_them_on_confirm(tmp_path):
    """`ifagg try` on the real bonding driver and a real configfs gadget (vm/guest/try_vm.py)."""
    proc = run_guest("try_vm.py", tmp_path)
    assert proc.returncode == 0, proc.stdout
    r = _results(tmp_path, "try-vm.json")
    assert r["bond_ifup"] == [0, 0] and r["bond_settled_first"]
    before = r["bond_before"]
    assert before["bonding"]["miimon"] == "100" and before["bonding"]["lacp_rate"].startswith("fast")
    for case, change in (("miimon", "miimon 200"), ("lacp_rate", "lacp_rate slow")):
        tried = r[f"bond_try_{case}"]
        assert tried["rc"] == 1 and change in tried["out"], tried
        assert "reverted (no confirmation within 3 s)" in tried["out"], tried
        assert "still different" not in tried["out"], tried
        assert r[f"bond_after_{case}"] == before, (case, r[f"bond_after_{case}"])
        assert r[f"bond_settled_{case}"], case      # LACP negotiates again after the revert
    assert r["bond_plan_old_stanza"] == [] and r["bond_ping"] == 0
    assert r["bond_confirm"]["rc"] == 0 and "kept: bond0" in r["bond_confirm"]["out"]
    assert r["bond_try_confirmed"]["rc"] == 0 and "kept (ifagg confirm)" in r["bond_try_confirmed"]["out"]
    assert r["bond_after_confirm"]["bonding"] == {**before["bonding"], "miimon": "200"}
    assert r["bond_plan_after_confirm"] == [] and r["bond_ifdown"] == [0, 0]

    assert r["usb_ifup"]["rc"] == 0, r["usb_ifup"]
    old = r["usb_before"]
    assert old["gadgets"] == ["ifagg_usbg0"] and old["host_addr"] == "02:1d:6b:00:00:11"
    assert old["addr"].strip() == "198.18.8.2/24" and old["master"] and old["up"] and old["watch"]
    during = r["usb_during"]
    assert during["host_addr"] == "02:1d:6b:00:00:22", during
    assert "02:1d:6b:00:00:22" in during["macs"] and "02:1d:6b:00:00:11" not in during["macs"]
    assert (during["addr"], during["master"], during["up"]) == (old["addr"], True, True), during
    tried = r["usb_try"]
    assert tried["rc"] == 1 and "configfs del usb_gadget/ifagg_usbg0" in tried["out"], tried
    assert "reverted (no confirmation within 20 s)" in tried["out"], tried
    assert "still different" not in tried["out"], tried
    assert r["usb_after"] == old, r["usb_after"]
    assert r["usb_confirm"]["rc"] == 0 and r["usb_try_confirmed"]["rc"] == 0, r["usb_try_confirmed"]
    kept = r["usb_after_confirm"]
    assert kept["host_addr"] == "02:1d:6b:00:00:22" and "02:1d:6b:00:00:22" in kept["macs"]
    assert (kept["addr"], kept["master"], kept["up"], kept["watch"]) == (old["addr"], True, True, True)
    new = r["usb_try_new"]
    assert new["rc"] == 1 and "reverted" in new["out"], new
    assert r["usb_after_new"] == {"gadgets": ["ifagg_usbg0"], "usbg1": False,
                                  "records": sorted(old["records"])}, r["usb_after_new"]
    assert r["usb_ifdown"]["rc"] == 0 and r["usb_gadgets_after_down"] == []

"""the networkd generator without networkd: writing, stale files, diff, the extras round trip,
the option table's networkd keys, version choices and bus errors."""

import os
import re

import pytest

from ifupdown_agg.errors import ConfigError
from ifupdown_agg.core.objects import LinkAttrs, NftTable, Route, Sysctl
from ifupdown_agg.overlay.options import OPTIONS
from ifupdown_agg.networkd import bus, extras, generate, native, sources, writer

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "networkd")
SEED = os.path.join(CASES, "seed-host10", "input", "interfaces")
GATEWAY = os.path.join(CASES, "seed-gateway", "input", "interfaces")
NATIVE = os.path.join(CASES, "native-dropin-255", "input", "networkd.conf")


def tree_of(path):
    srcs = sources.from_native(path) if path.endswith(".conf") else sources.from_interfaces(path)
    return generate.generate(srcs)


def test_stale_files_of_ours_go_and_others_stay(tmp_path):
    root = str(tmp_path)
    writer.write(root, tree_of(SEED))
    netdir = tmp_path / "etc/systemd/network"
    (netdir / "10-admin.network").write_text("[Match]\nName=eth9\n")
    (netdir / "70-other.netdev").write_text("[NetDev]\nName=x\nKind=dummy\n")
    ch = writer.write(root, tree_of(GATEWAY))
    assert ch.removed == [f"etc/systemd/network/60-ifagg-eth{i}.network" for i in (1, 2, 3)]
    assert sorted(os.listdir(netdir)) == ["10-admin.network", "60-ifagg-eth0.network",
                                          "60-ifagg-tun0.netdev", "60-ifagg-tun0.network",
                                          "70-other.netdev"]
    assert not [n for n in os.listdir(netdir) if n.startswith(".ifagg-")]   # no temp files
    assert not writer.write(root, tree_of(GATEWAY))                          # idempotent


def test_diff_shows_what_would_change(tmp_path):
    root = str(tmp_path)
    assert "+Name=tun0" in writer.unified_diff(root, tree_of(SEED))
    writer.write(root, tree_of(SEED))
    assert writer.unified_diff(root, tree_of(SEED)) == ""
    text = writer.unified_diff(root, tree_of(GATEWAY))
    assert "--- a/etc/systemd/network/60-ifagg-eth1.network\n+++ /dev/null" in text


def test_the_extras_file_is_a_native_file_with_the_same_config(tmp_path):
    for path in (SEED, NATIVE):
        src = (sources.from_native(path) if path.endswith(".conf")
               else sources.from_interfaces(path)).overlays[0]
        tree = tree_of(path)
        writer.write(str(tmp_path), tree)
        loaded, version = extras.load(str(tmp_path), src.loaded.cfg.iface)
        assert loaded.cfg == src.loaded.cfg
        # And regenerating from it gives the same networkd files.
        again = generate.generate(sources.from_native(
            str(tmp_path / generate.extras_path(src.loaded.cfg.iface))), version)
        strip = lambda t: {k: re.sub(r"from .*\n", "", v) for k, v in t.files.items()}
        assert strip(again) == strip(tree)


def test_every_networkd_key_of_the_option_table_is_written():
    files = tree_of(SEED).files
    text = "\n".join(files.values())
    sections = {}
    for body in files.values():
        section = None
        for line in body.splitlines():
            if line.startswith("["):
                section = line
            elif "=" in line and not line.startswith("#"):
                sections.setdefault(section, set()).add(line.split("=")[0] + "=")
    for opt in OPTIONS.values():
        for part in opt.networkd.split(";"):
            m = re.match(r"\s*(\[\w+\])\s+(.*)", part)
            if not m:
                continue        # carried by a unit: said in parentheses
            for key in re.findall(r"\b(\w+=)", m.group(2).split("(")[0]):
                assert key in sections.get(m.group(1), ()), (opt.name, m.group(1), key)
    assert "GenericSegmentOffload" not in text


def test_what_the_unit_applies_depends_on_the_version():
    cfg = sources.from_native(NATIVE).overlays[0].loaded.cfg
    objs = [NftTable("ifagg_agg0", "d", ""), Sysctl("net/ipv4/conf/eth0/rp_filter", "2"),
            LinkAttrs("agg0", up=True, gso_max_segs=4),
            Route(254, cfg.fakenet, "agg0", prefsrc=cfg.address, reordering=32),
            Route(20000, "10.99.255.10/32", "eth0", gateway="10.99.0.10")]
    old = extras.select(objs, cfg, 252)
    new = extras.select(objs, cfg, 255)
    assert [type(o).__name__ for o in old] == ["NftTable", "Sysctl", "LinkAttrs", "Route"]
    assert [type(o).__name__ for o in new] == ["NftTable", "LinkAttrs", "Route"]
    assert old[2] == LinkAttrs("agg0", up=None, gso_max_segs=4)


def test_agg_rto_min_is_not_carried_and_says_so(tmp_path):
    """networkd 252 re-adds its own fake-net route beside one of ours that carries the
    metric (seen in the real test), so the value is dropped with a note, and the files
    and the unit's desired state both leave the route as networkd makes it."""
    path = tmp_path / "interfaces"
    path.write_text(open(SEED).read().replace("    table 10000", "    agg-rto-min 50\n    table 10000", 1))
    srcs = sources.from_interfaces(str(path))
    assert srcs.overlays[0].loaded.cfg.rto_min is None
    tree = generate.generate(srcs)
    notes = srcs.overlays[0].notes + tree.notes
    assert any("agg-rto-min 50 is not carried" in n for n in notes), notes
    assert not [name for name, text in tree.files.items()
                if "rto_min 50" in text or "retransmission timeout" in text]
    writer.write(str(tmp_path), tree)
    loaded, _ = extras.load(str(tmp_path), "tun0")
    assert loaded.cfg.rto_min is None


def test_native_errors_point_at_the_line(tmp_path):
    bad = tmp_path / "n.conf"
    bad.write_text("[tun0]\naddress = 10.99.255.10\n    [[membres]]\n    eth0 = 10.99.0.10/24\n")
    with pytest.raises(ConfigError, match=r"n.conf:3: tun0: unknown subsection \[\[membres\]\]; "
                                          r"did you mean '\[\[members\]\]'\?"):
        native.read(str(bad))
    bad.write_text("[tun0]\n    [[members]]\n    eth0 = 10.99.0.10\n")
    with pytest.raises(ConfigError, match=r"n.conf:3: eth0: members: '10.99.0.10' needs a prefix"):
        native.read(str(bad))


def test_no_bus_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/nothing")
    with pytest.raises(bus.BusError, match="no system bus at unix:path=.*nothing.*is dbus running"):
        bus.reload_and_wait(["tun0"], timeout=1)


def test_from_kernel_takes_the_nics_the_node_has(tmp_path):
    from ifupdown_agg.core.objects import LinkInfo, Observed
    only_tun = tmp_path / "interfaces"
    with open(SEED) as fh:
        only_tun.write_text(fh.read().split("auto tun0")[1].join(["auto tun0", ""]))
    obs = Observed()
    for i, (nic, cidr) in enumerate([("eth0", "10.99.0.10/24"), ("eth1", "10.99.1.10/24"),
                                     ("eth2", "10.99.2.10/24"), ("eth3", "10.3.23.10/24"),
                                     ("tun0", "10.99.255.10/32")], 2):
        addr, plen = cidr.split("/")
        obs.links[nic] = LinkInfo(nic, i, addrs=[(addr, int(plen))])

    class FakeKernel:
        def observe(self):
            return obs
    with pytest.raises(ConfigError, match="on no known NIC"):
        generate.generate(sources.from_interfaces(str(only_tun)))
    srcs = sources.with_kernel_nics(sources.from_interfaces(str(only_tun)), FakeKernel())
    files = generate.generate(srcs).files
    assert sorted(f for f in files if f.endswith(".network")) == [
        f"etc/systemd/network/60-ifagg-{n}.network" for n in ("eth0", "eth1", "eth2", "eth3", "tun0")]
    assert "Address=10.3.23.10/24" in files["etc/systemd/network/60-ifagg-eth3.network"]


# ---- bonds, USB links, bridges ----------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(CASES))
BOND_CASES = ("bond-8023ad", "bond-modes")


def interfaces(tmp_path, text):
    path = tmp_path / "interfaces"
    path.write_text(text)
    return str(path)


def test_every_bond_key_of_the_option_table_is_written_by_a_golden_case():
    from ifupdown_agg.config.registry import TABLES_BY_GROUP
    from ifupdown_agg.networkd.devices import networkd_key
    written = ""
    for case in BOND_CASES:
        written += "\n".join(tree_of(os.path.join(CASES, case, "input", "interfaces"))
                             .files.values())
    for name in TABLES_BY_GROUP["bond"]:
        found = networkd_key(name)
        if found and found[0] == "Bond":
            assert f"\n{found[1]}=" in written, name


def test_bond_link_has_one_source_shipped_by_the_package_and_named_by_the_netdev():
    from ifupdown_agg.networkd.devices import BOND_LINK
    src = os.path.join(REPO, "ifupdown_agg", "networkd", "data", os.path.basename(BOND_LINK))
    with open(src) as fh:
        text = fh.read()
    assert "[Match]\nType=bond\n\n[Link]\nMACAddressPolicy=none\n" in text
    assert os.path.basename(BOND_LINK) < "99-default.link"
    with open(os.path.join(REPO, "debian", "ifupdown-agg.install")) as fh:
        assert f"ifupdown_agg/networkd/data/{os.path.basename(BOND_LINK)} usr/lib/systemd/network\n" \
            in fh.read()
    files = tree_of(os.path.join(CASES, "bond-8023ad", "input", "interfaces")).files
    netdev = files["etc/systemd/network/60-ifagg-bond0.netdev"]
    assert os.path.basename(BOND_LINK) in netdev and "MACAddressPolicy" not in "".join(files.values())


def test_the_gadget_unit_reads_the_extras_file_we_write(tmp_path):
    """ExecStart= and the condition name our path; the file is a stanza usbnet reads back."""
    from ifupdown_agg.config import ifaces_file
    from ifupdown_agg.usb.lifecycle import gadget_spec
    with open(os.path.join(REPO, "debian", "ifupdown-agg.ifupdown-agg-usbgadget@.service")) as fh:
        unit = fh.read()
    path = "/" + generate.gadget_path("%i")
    assert f"ConditionPathExists={path}\n" in unit
    assert f"ExecStart=/usr/bin/ifagg usbnet up --interfaces {path} %i\n" in unit
    assert f"ExecStop=/usr/bin/ifagg usbnet down --interfaces {path} %i\n" in unit
    src = os.path.join(CASES, "usbnet-gadget", "input", "interfaces")
    writer.write(str(tmp_path), tree_of(src))
    back = ifaces_file.read(str(tmp_path / generate.gadget_path("usbg0"))).find("usbg0")
    orig = ifaces_file.read(src).find("usbg0")
    assert back.method == "manual" and not back.commands
    assert gadget_spec("usbg0", back.options) == gadget_spec("usbg0", orig.options)


def test_links_mode_writes_only_link_files(tmp_path, capsys):
    import argparse
    from ifupdown_agg.networkd import cli
    root = tmp_path / "root"
    layout = os.path.join(CASES, "usbnet-bridge-layout", "input", "interfaces")
    writer.write(str(root), tree_of(layout))
    before = sorted(os.listdir(root / "etc/systemd/network"))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    hosts = os.path.join(CASES, "usbnet-host-links", "input", "interfaces")
    assert cli.run(parser.parse_args(["links", "-i", hosts, "--root", str(root),
                                      "--dry-run"])) == 0
    assert "+Name=usbh1" in capsys.readouterr().out
    assert sorted(os.listdir(root / "etc/systemd/network")) == before
    assert cli.run(parser.parse_args(["links", "-i", hosts, "--root", str(root)])) == 0
    out = capsys.readouterr().out
    assert "wrote /etc/systemd/network/70-ifagg-usbh1.link" in out and "udevadm control --reload" in out
    after = sorted(os.listdir(root / "etc/systemd/network"))
    assert after == sorted(before + ["70-ifagg-usbh1.link", "70-ifagg-usbh2.link"])
    # A stanza gone: only its .link goes; the .network files are generate's business.
    cli.run(parser.parse_args(["links", "-i", interfaces(tmp_path, "iface lo inet loopback\n"),
                               "--root", str(root)]))
    assert sorted(os.listdir(root / "etc/systemd/network")) == [
        n for n in before if not n.endswith(".link")]
    assert "/etc/ifupdown-agg/networkd/usbg0.usbnet" not in capsys.readouterr().out


def test_stale_bond_usb_and_gadget_files_go(tmp_path):
    root = str(tmp_path / "root")
    writer.write(root, tree_of(os.path.join(CASES, "usbnet-bridge-layout", "input", "interfaces")))
    ch = writer.write(root, tree_of(os.path.join(CASES, "bond-8023ad", "input", "interfaces")))
    assert "etc/ifupdown-agg/networkd/usbg0.usbnet" in ch.removed
    assert "etc/systemd/network/70-ifagg-usbc0.link" in ch.removed
    assert ("etc/systemd/system/systemd-networkd.service.wants/"
            "ifupdown-agg-usbgadget@usbg0.service") in ch.removed
    assert sorted(os.listdir(os.path.join(root, "etc/systemd/network"))) == [
        "60-ifagg-bond0.netdev", "60-ifagg-bond0.network", "60-ifagg-eth1.network",
        "60-ifagg-eth2.network"]


def test_usb_links_are_not_waited_for():
    from ifupdown_agg.networkd import apply
    tree = tree_of(os.path.join(CASES, "usbnet-bridge-layout", "input", "interfaces"))
    assert apply.managed_links(tree) == ["br0", "eth0"]


def test_an_overlay_over_a_bond_shares_the_bond_network_file(tmp_path):
    with open(GATEWAY) as fh:
        seed = fh.read().replace("iface eth0 inet static", "iface bond0 inet static\n"
                                 "    bond-slaves eth0\n    bond-mode 802.3ad")
    seed = seed.replace("auto eth0", "auto bond0")
    files = generate.generate(sources.from_interfaces(interfaces(tmp_path, seed))).files
    text = files["etc/systemd/network/60-ifagg-bond0.network"]
    assert "# bond0: the bond's own addresses (its ports: eth0)." in text
    assert "a member link of the overlay" in text and "Table=10003" in text
    assert "Address=10.3.23.1/24" in text
    assert "Bond=bond0" in files["etc/systemd/network/60-ifagg-eth0.network"]


@pytest.mark.parametrize("text, message", [
    ("iface eth0 inet manual\n    usbnet-bridge br9\n",
     r"interfaces:2: eth0: usbnet-bridge: no 'iface br9' stanza in .*interfaces: networkd "
     r"adds a link only to a bridge it makes from a .netdev"),
    ("iface bond0 inet manual\n    bond-slaves eth1 eth2\n    bond-mode active-backup\n"
     "    bond-primary eth3\n",
     r"interfaces:4: bond0: bond-primary: 'eth3' is not a port of bond0"),
    ("iface eth1 inet static\n    address 10.0.0.1/24\n    bond-master bond0\n"
     "iface bond0 inet manual\n    bond-mode 802.3ad\n",
     r"interfaces:2: eth1: a port of bond0 has no addresses of its own"),
    ("iface bond0 inet manual\n    bond-slaves eth1\n"
     "iface eth1 inet manual\n    bond-master bond1\niface bond1 inet manual\n",
     r"interfaces:4: eth1: bond-master: is already a port of bond0 .*\(token 'bond1'\)"),
    ("iface bond0 inet manual\n    bond-slaves eth1\n"
     "iface bond1 inet manual\n    bond-slaves eth2 eth1\n",
     r"interfaces:4: bond1: bond-slaves: 'eth1' is already a port of bond0"),
    ("iface usbc0 inet manual\n    usbnet-match mac 02:00:00:00:00:01\n"
     "iface usbc1 inet manual\n    usbnet-match mac 02:00:00:00:00:01\n",
     r"interfaces:4: usbc1: usbnet-match: usbc0 already matches mac 02:00:00:00:00:01"),
    ("iface bond0 inet manual\n    bond-arp-validate filter\n",
     r"interfaces:2: bond0: bond-arp-validate: systemd-networkd cannot take "
     r"\[Bond\] ARPValidate=filter"),
])
def test_bond_and_usbnet_errors_point_at_the_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        generate.generate(sources.from_interfaces(interfaces(tmp_path, text)))


def test_a_bond_over_usb_links_names_them_and_joins_them(tmp_path):
    text = ("iface usbh1 inet manual\n    usbnet-match mac 00:e0:4c:56:00:01\n"
            "    bond-master bond1\n"
            "iface usbh2 inet manual\n    usbnet-match mac 00:e0:4c:56:00:02\n"
            "    bond-master bond1\n"
            "iface bond1 inet static\n    address 198.18.30.1/24\n    bond-mode 802.3ad\n")
    files = generate.generate(sources.from_interfaces(interfaces(tmp_path, text))).files
    for port in ("usbh1", "usbh2"):
        network = files[f"etc/systemd/network/60-ifagg-{port}.network"]
        assert "Bond=bond1" in network and "RequiredForOnline=no" in network
        assert f"Name={port}" in files[f"etc/systemd/network/70-ifagg-{port}.link"]
    assert "Mode=802.3ad" in files["etc/systemd/network/60-ifagg-bond1.netdev"]

"""networkd_gen without networkd: writing, stale files, diff, the extras round trip,
the option table's networkd keys, version choices and bus errors."""

import os
import re

import pytest

from ifupdown_agg.errors import ConfigError
from ifupdown_agg.kobjects import LinkAttrs, NftTable, Route, Sysctl
from ifupdown_agg.options import OPTIONS
from networkd_gen import bus, extras, generate, native, sources, writer

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
    from ifupdown_agg.kobjects import LinkInfo, Observed
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

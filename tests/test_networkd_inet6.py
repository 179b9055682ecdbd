"""A dual-stack overlay (inet and inet6 stanzas of one tun device) in networkd's files:
the IPv6 objects are the planner's, the unit adds the ip6 marking, the extras round trip."""

import os
import re

import pytest

from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RecordingExecutor
from ifupdown_agg.core.objects import Address, LinkInfo, NftTable, Observed, Route, Rule
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.networkd import extras, generate, members, sources, writer
from ifupdown_agg.overlay import plan

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "networkd")
DUAL = os.path.join(CASES, "dual-stack-host10", "input", "interfaces")
NET = "etc/systemd/network/60-ifagg-{}.network"


def sections(text):
    """A networkd file's sections as (name, {key: value}), in order."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            out.append((line, {}))
        elif "=" in line and not line.startswith("#") and out:
            key, _, value = line.partition("=")
            out[-1][1][key] = value
    return out


def test_the_ipv6_objects_are_the_planners_inet6_desired_state():
    srcs = sources.from_interfaces(DUAL)
    src = srcs.overlays[0]
    assert src.inet6 is not None and src.inet6.cfg.family == "inet6"
    files = generate.generate(srcs).files
    desired = plan.desired_state(src.inet6.cfg, members.synthetic_observed(src.nics.values()),
                                 src.inet6.raw)
    tun = sections(files[NET.format("tun0")])
    for obj in desired.objects:
        if isinstance(obj, Address):
            assert ("[Address]", {"Address": f"{obj.address}/{obj.prefixlen}"}) in tun
        elif isinstance(obj, Rule):
            assert ("[RoutingPolicyRule]", {"Family": "ipv6", "FirewallMark": str(obj.fwmark),
                                            "Table": str(obj.table),
                                            "Priority": str(obj.priority)}) in tun
        elif isinstance(obj, Route) and obj.table == plan.MAIN_TABLE:
            assert ("[Route]", {"Destination": obj.dst, "PreferredSource": obj.prefsrc,
                                "Protocol": "173", "TCPCongestionControlAlgorithm": obj.congctl}) in tun
        elif isinstance(obj, Route):
            assert ("[Route]", {"Destination": obj.dst, "Gateway": obj.gateway,
                                "Table": str(obj.table), "Protocol": "173"}) in sections(
                files[NET.format(obj.dev)])
    # Exactly those: two IPv6 rules, one IPv6 address, no IPv6 rule without Family=.
    assert sum(1 for name, kv in tun if name == "[RoutingPolicyRule]") == 4
    assert sum(1 for name, kv in tun if kv.get("Family") == "ipv6") == 2
    assert not any(":" in kv.get("Destination", "") and "Scope" in kv for _, kv in tun)
    assert "reordering 20: no networkd key" in files[NET.format("tun0")]


def test_member_nics_carry_both_families_in_either_stanza_order():
    nics = {s.name: s for s in sources.from_interfaces(DUAL).overlays[0].nics.values()}
    assert nics["eth0"].addresses == ["10.99.0.10/24", "fd99::10/64"]
    assert nics["eth1"].addresses == ["10.99.1.10/24", "fd99:1::10/64"]
    assert nics["eth1"].ignored == ["inet6 dad-attempts"]
    assert members.parse_entry("eth0", "10.99.0.10/24 fd99:0::10/64", None).addresses == [
        "10.99.0.10/24", "fd99::10/64"]


def test_the_extras_file_carries_the_inet6_section_and_round_trips(tmp_path):
    srcs = sources.from_interfaces(DUAL)
    tree = generate.generate(srcs)
    writer.write(str(tmp_path), tree)
    families, version = extras.load_families(str(tmp_path), "tun0")
    assert [f.cfg for f in families] == [srcs.overlays[0].loaded.cfg, srcs.overlays[0].inet6.cfg]
    assert extras.load(str(tmp_path), "tun0")[0].cfg == srcs.overlays[0].loaded.cfg
    again = generate.generate(sources.from_native(str(tmp_path / generate.extras_path("tun0"))),
                              version)
    strip = lambda t: {k: re.sub(r"from .*\n", "", v) for k, v in t.files.items()}
    assert strip(again) == strip(tree)


def fake_kernel():
    obs = Observed()
    for i, (nic, cidrs) in enumerate([("eth0", ["10.99.0.10/24", "fd99::10/64"]),
                                      ("eth1", ["10.99.1.10/24", "fd99:1::10/64"]),
                                      ("tun0", ["10.99.255.10/32", "fd99:ff::10/128"])], 2):
        obs.links[nic] = LinkInfo(nic, i, up=True, addrs=[(c.split("/")[0], int(c.split("/")[1]))
                                                          for c in cidrs])

    class FakeKernel:
        def observe(self):
            return obs

        def close(self):
            pass
    return FakeKernel()


def test_the_unit_adds_the_ip6_marking_and_the_ipv6_reordering(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path / "run"))
    writer.write(str(tmp_path), generate.generate(sources.from_interfaces(DUAL)))
    executor = RecordingExecutor()
    ops = extras.post_apply("tun0", str(tmp_path), kernel=fake_kernel(), executor=executor,
                            wait=0)
    tables = sorted(op.obj.name for op in ops if isinstance(op.obj, NftTable))
    assert tables == ["ifagg6_tun0", "ifagg_tun0"]
    assert "table ip6 ifagg6_tun0" in next(op.obj for op in ops
                                           if getattr(op.obj, "name", "") == "ifagg6_tun0").script
    routes = [op.obj for op in ops if isinstance(op.obj, Route)]
    # Only the IPv6 route needs the unit (its reordering); rto_min is not carried.
    assert [(r.dst, r.reordering, r.rto_min) for r in routes] == [
        ("fd99:ff::/64", 20, None)]
    # Nothing networkd makes: no rule, no table route, no address.
    assert not [op for op in ops if isinstance(op.obj, (Rule, Address))]


def test_an_inet6_stanza_without_an_inet_one_is_still_named_as_not_carried(tmp_path):
    path = tmp_path / "interfaces"
    path.write_text("iface eth0 inet static\n    address 10.99.0.10/24\n"
                    "iface tun0 inet6 static\n    address fd99:ff::10\n    netmask 128\n"
                    "    fakenet fd99:ff::/64\n    table 10000\n"
                    "    rspec [fd99:ff::10]:[fd99::10] [fd99:ff::20]:[fd99::20]\n")
    srcs = sources.from_interfaces(str(path))
    assert srcs.overlays == []
    assert any(n.startswith("tun0: its inet6 overlay stanza is not carried: networkd gets an "
                            "IPv6 overlay only beside an inet one") for n in srcs.notes)
    native = tmp_path / "n.conf"
    native.write_text("[tun0.inet6]\naddress = fd99:ff::10\nfakenet = fd99:ff::/64\n"
                      "table = 10000\nrspec = [fd99:ff::10]:[fd99::10] [fd99:ff::20]:[fd99::20]\n")
    srcs = sources.from_native(str(native))
    assert srcs.overlays == [] and any("[tun0.inet6] section is not carried" in n
                                       for n in srcs.notes)


def test_the_dual_stack_note_is_gone_and_mismatched_tables_or_missing_hops_are_errors(tmp_path):
    with open(DUAL) as fh:
        text = fh.read()
    assert not [n for n in generate.generate(sources.from_interfaces(DUAL)).notes
                if "inet6" in n and "not carried:" in n]
    path = tmp_path / "interfaces"
    path.write_text(text.replace("    table 10000 10001\n    agg-weights 2 1\n    agg-reordering",
                                 "    table 10000 10002\n    agg-weights 2 1\n    agg-reordering"))
    with pytest.raises(ConfigError, match="inet6 stanza's 'table' must be the inet one's"):
        generate.generate(sources.from_interfaces(str(path)))
    path.write_text(text.replace("iface eth0 inet6 static\n    address fd99:0::10/64\n", ""))
    with pytest.raises(ConfigError, match=r"hop fd99::10 for table 10000 is on no known NIC; "
                                          r"give that NIC's stanza \(iface ethN inet6 static"):
        generate.generate(sources.from_interfaces(str(path)))

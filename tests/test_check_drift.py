"""`ifagg check` against a real kernel (issue #13 item 3): each drift made by hand is
exit 1 naming the object, `ifagg up` repairs it, check then exits 0, and down leaves
nothing. Also the exit codes for an invalid config and a bond stanza without its bond."""

import json

import pytest

from lab.cluster import Lab

pytestmark = pytest.mark.root

STANZA = """\
iface tun7 inet static
    address 198.19.7.1
    mtu 1400
    fakenet 198.19.7.0/24
    table 17000 17001
    rspec 198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2 \\
          198.19.7.3:198.18.70.3:198.18.71.3
    agg-weights 1 3
    agg-monitor off
    agg-spread nft
    agg-rto-min 50
"""


@pytest.fixture(scope="module")
def host():
    with Lab("d") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(STANZA)
        yield a


def _check(h, *args):
    res = h.ifagg("check", "--json", *args, check=False)
    doc = json.loads(res.stdout)
    try:
        import jsonschema
        from ifupdown_agg.cli import schemas
        jsonschema.validate(doc, schemas.SCHEMAS["check"])
    except ImportError:
        pass
    return res.returncode, doc


def _rule(h, table):
    return ["ip", "rule", "del", "priority", "7000", "fwmark", str(table), "lookup", str(table)]


DRIFTS = {
    "rule deleted": (lambda h: h.run(_rule(h, 17001)),
                     "ip rule add priority 7000 fwmark 17001 lookup 17001"),
    "route deleted": (lambda h: h.run(["ip", "route", "del", "198.19.7.2/32", "table", "17000"]),
                      "ip route add 198.19.7.2/32 via 198.18.70.2 dev eth0 table 17000"),
    "peer chain flushed": (lambda h: h.run(["nft", "flush", "chain", "ip", "ifagg_tun7", "peer_1"]),
                           "nft -f - (replace) <<< 'table ip ifagg_tun7"),
    "counter map changed": (lambda h: h.sh(
        "nft flush chain ip ifagg_tun7 peer_2 && nft add rule ip ifagg_tun7 peer_2 "
        "meta mark set 17000"), "nft -f - (replace) <<< 'table ip ifagg_tun7"),
    "mtu changed": (lambda h: h.run(["ip", "link", "set", "tun7", "mtu", "1500"]),
                    "mtu 1400"),
    "member NIC bounced": (lambda h: h.sh("ip link set eth1 down && ip link set eth1 up"),
                           "table 17001"),
    "rto_min dropped": (lambda h: h.run(["ip", "route", "change", "198.19.7.0/24", "dev", "tun7",
                                         "proto", "173", "scope", "link", "src", "198.19.7.1",
                                         "congctl", "cubic"]), "rto_min 50ms"),
    "device down": (lambda h: h.run(["ip", "link", "set", "tun7", "down"]), "ip link set tun7 up"),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_is_reported_and_up_repairs_it(host, drift):
    make, needle = DRIFTS[drift]
    host.ifagg("up", "tun7")
    assert _check(host)[0] == 0
    make(host)
    code, report = _check(host)
    assert code == 1, report
    [entry] = report["stanzas"]
    assert entry["iface"] == "tun7" and not entry["in_sync"] and entry["ops"]
    assert any(needle in line for line in entry["describe"]), entry["describe"]
    text = host.ifagg("check", check=False)
    assert text.returncode == 1 and needle in text.stdout
    host.ifagg("up", "tun7")
    assert _check(host)[0] == 0, _check(host)
    host.ifagg("down", "tun7")
    assert host.our_objects() == []


def test_flushed_chain_names_the_missing_rule(host):
    host.ifagg("up", "tun7")
    host.run(["nft", "flush", "chain", "ip", "ifagg_tun7", "peer_1"])
    out = host.ifagg("check", check=False).stdout
    assert "nft table ifagg_tun7 lacks: meta mark set numgen" in out and '"p1_t17000"' in out
    host.ifagg("down", "tun7")
    assert host.our_objects() == []


def test_a_narrowed_rotation_is_not_drift(host):
    """The monitor takes a failed path out of a peer's rotation: that is not drift."""
    host.ifagg("up", "tun7")
    host.sh("nft flush chain ip ifagg_tun7 peer_1 && nft add rule ip ifagg_tun7 peer_1 "
            "meta mark set numgen inc mod 1 map { 0 : 17001 } counter name meta mark map "
            '{ 17000 : "p1_t17000", 17001 : "p1_t17001" }')
    assert _check(host)[0] == 0
    host.sh("nft flush chain ip ifagg_tun7 peer_1 && nft add rule ip ifagg_tun7 peer_1 "
            "meta mark set numgen inc mod 1 map { 0 : 99 } counter name meta mark map "
            '{ 17000 : "p1_t17000", 17001 : "p1_t17001" }')
    assert _check(host)[0] == 1      # a mark that is none of ours
    host.ifagg("down", "tun7")
    assert host.our_objects() == []


def test_down_overlay_is_drift_and_invalid_config_is_2(host):
    code, report = _check(host, "tun7")
    assert code == 1 and report["stanzas"][0]["describe"][0].startswith("ip tuntap add")
    host.write_interfaces(STANZA.replace("table 17000 17001", "table 17000 nope"), "bad")
    res = host.ifagg("check", "-i", "/etc/network/bad", check=False)
    assert res.returncode == 2 and "nope" in res.stdout
    res = host.ifagg("check", "-i", "/etc/network/missing", check=False)
    assert res.returncode == 2 and "missing" in res.stderr


def test_bond_stanza_without_its_bond_is_drift(host):
    host.write_interfaces("iface bond7 inet manual\n    bond-slaves eth0 eth1\n"
                          "    bond-mode active-backup\n", "bond")
    code, report = _check(host, "-i", "/etc/network/bond")
    assert code == 1, report
    assert "ip link add bond7 type bond mode active-backup" in report["stanzas"][0]["describe"]


def test_read_only_commands_as_a_normal_user_say_what_needs_root(host):
    """nobody cannot list nft tables: one line saying so; check exits 3 (could not look)."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    nobody = ["ip", "netns", "exec", host.ns, "setpriv", "--reuid=65534", "--regid=65534",
              "--clear-groups", sys.executable]
    if subprocess.run(nobody + ["-c", "import ifupdown_agg"], cwd=root,
                      capture_output=True).returncode:
        pytest.skip("the checkout is not readable by nobody")
    tmp = tempfile.mkdtemp(prefix="ifagg-nobody-")
    try:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "interfaces")
        with open(path, "w") as fh:
            fh.write(STANZA)
        os.chmod(path, 0o644)
        for args, code in ((["plan", "tun7"], 1), (["check"], 3), (["status"], 1)):
            res = subprocess.run(nobody + ["-m", "ifupdown_agg"] + args + ["-i", path],
                                 cwd=root, capture_output=True, text=True, timeout=60)
            assert res.returncode == code, (args, res.stderr)
            assert "Traceback" not in res.stderr and "needs root to read the nft tables" \
                in res.stderr, (args, res.stderr)
    finally:
        shutil.rmtree(tmp)


@pytest.mark.parametrize("peers,weights", [(1, [1]), (2, [1, 3]), (3, [2, 1, 2])])
def test_the_listing_of_our_ruleset_reads_back_as_the_script(host, peers, weights):
    """check compares the listing with the script in one normal form (core/nftcontent):
    whatever overlay/nft_ruleset.py writes must read back the same, or check would
    report drift for ever and up would replace the table each time."""
    from ifupdown_agg.core.nftcontent import differences, same_contents
    from ifupdown_agg.overlay import nft_ruleset
    marks = [17000 + i for i in range(len(weights))]
    table = nft_ruleset.build("ifagg_probe", "probe0",
                              [(i, f"198.19.9.{i + 2}") for i in range(peers)], marks, weights)
    host.run(["nft", "-f", "-"], input=table.script)
    try:
        listing = host.run(["nft", "list", "table", "ip", "ifagg_probe"]).stdout
        assert same_contents(listing, table.script), differences(listing, table.script)
    finally:
        host.run(["nft", "delete", "table", "ip", "ifagg_probe"])

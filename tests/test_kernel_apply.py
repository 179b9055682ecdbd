"""The CLI against a real kernel in a namespace: idempotence, drift, lost state.

These run without ifupdown, so they also run in the second CI pass against the
newest pyroute2 from PyPI.
"""

import json
import os

import pytest

from lab.cluster import Lab

pytestmark = pytest.mark.root

STANZA = """\
iface tun7 inet static
    address 198.19.7.1
    fakenet 198.19.7.0/24
    table 17000 17001
    rspec 198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2
    agg-weights 1 3
"""


# Both ways of spreading: the BPF spreader (the default where it is built) and nft.
@pytest.fixture(params=["bpf", "nft"])
def pair(request):
    with Lab("k") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(STANZA + f"    agg-spread {request.param}\n")
        a.spread = request.param
        a.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
        yield a


def test_up_is_idempotent_and_down_restores(pair):
    out = pair.ifagg("up", "tun7").stdout
    assert out.startswith("tun7: ") and "change(s)" in out
    objects = pair.our_objects()
    assert len([o for o in objects if "proto 173" in o]) == 2 + 2 + 1   # routes, rules, fakenet
    assert pair.run(["sysctl", "-n", "net.ipv4.conf.eth1.rp_filter"]).stdout.strip() == "2"
    assert pair.ifagg("up", "tun7").stdout.strip() == "tun7: already up to date"
    assert json.loads(pair.ifagg("check", "--json").stdout)["in_sync"] is True
    status = pair.status("tun7")
    assert [ln["rotation_share"] for ln in status["links"]] == [0.25, 0.75]

    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []
    assert pair.run(["sysctl", "-n", "net.ipv4.conf.eth1.rp_filter"]).stdout.strip() == "1"
    assert pair.ifagg("down", "tun7").stdout.strip() == "tun7: nothing to remove"


def test_check_reports_drift_and_up_repairs_it(pair):
    pair.ifagg("up", "tun7")
    pair.run(["ip", "route", "del", "198.19.7.2/32", "table", "17001"])
    res = pair.ifagg("check", check=False)
    assert res.returncode == 1
    assert "needs: ip route add 198.19.7.2/32 via 198.18.71.2 dev eth1 table 17001" in res.stdout
    assert pair.ifagg("up", "tun7").stdout.strip() == "tun7: 1 change(s)"
    assert pair.ifagg("check").returncode == 0


def test_a_removed_spreader_is_drift_and_up_puts_it_back(pair):
    if pair.spread != "bpf":
        pytest.skip("the BPF spreader only")
    pair.ifagg("up", "tun7")
    pair.run(["tc", "filter", "del", "dev", "tun7", "egress", "prio", "173"])
    res = pair.ifagg("check", check=False)
    assert res.returncode == 1 and "tc filter add dev tun7 egress prio 173" in res.stdout, res.stdout
    assert pair.ifagg("up", "tun7").stdout.strip() == "tun7: 1 change(s)"
    assert pair.ifagg("check").returncode == 0
    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []


def test_a_peer_removed_from_rspec_goes_in_place(pair):
    third = " 198.19.7.3:198.18.70.3:198.18.71.3"
    pair.write_interfaces(STANZA.replace("198.18.71.2\n", "198.18.71.2" + third + "\n")
                          + f"    agg-spread {pair.spread}\n")
    pair.ifagg("up", "tun7")
    assert "198.19.7.3" in "\n".join(pair.our_objects())
    pair.write_interfaces(STANZA + f"    agg-spread {pair.spread}\n")
    pair.ifagg("up", "tun7")        # the BPF spreader's map loses its entry (a delete)
    assert "198.19.7.3" not in "\n".join(pair.our_objects())
    assert pair.ifagg("check").returncode == 0
    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []


def test_lost_state_is_cleaned_by_the_marks(pair):
    pair.ifagg("up", "tun7")
    os.unlink(f"{pair.dir}/run/ifupdown-agg/tun7.json")
    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []


def test_changed_config_removes_what_is_no_longer_wanted(pair):
    pair.ifagg("up", "tun7")
    pair.write_interfaces(STANZA.replace("table 17000 17001", "table 17000 17002")
                          .replace("agg-weights 1 3", "agg-weights 1 1"))
    pair.ifagg("up", "tun7")
    objects = "\n".join(pair.our_objects())
    assert "17001" not in objects and "lookup 17002" in objects
    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []


def test_cleanup_all_removes_every_marked_object(pair):
    pair.ifagg("up", "tun7")
    marking = ("nft delete table ip ifagg_tun7" if pair.spread == "nft"
               else "tc filter del dev tun7 egress prio 173")
    assert marking in pair.ifagg("cleanup", "--all", "--dry-run").stdout
    pair.ifagg("cleanup", "--all")
    assert pair.our_objects() == []


def test_repairing_a_deleted_fwmark_rule_keeps_ifdown_working(pair):
    """A rule removed by hand and repaired by `ifagg up` is recorded once, so ifdown works
    (it used to be recorded twice, and every later ifdown failed with ENOENT)."""
    pair.ifagg("up", "tun7")
    rules = json.loads(pair.run(["ip", "-j", "rule", "show"]).stdout)
    ours = [r for r in rules if r.get("protocol") in ("173", 173, "ifagg") and "fwmark" in r]
    assert ours, rules
    rule = ours[0]
    pair.run(["ip", "rule", "del", "priority", str(rule["priority"]), "fwmark",
              str(rule["fwmark"]), "lookup", str(rule["table"])])
    assert pair.ifagg("up", "tun7").stdout.strip() == "tun7: 1 change(s)"
    pair.ifagg("down", "tun7")
    assert pair.our_objects() == []
    assert pair.ifagg("down", "tun7").stdout.strip() == "tun7: nothing to remove"

"""A rule removed by hand and repaired by `ifagg up` is recorded once, so ifdown works."""

import json

import pytest

from lab.cluster import Lab

pytestmark = pytest.mark.root

STANZA = """\
iface tun7 inet manual
    address 198.19.7.1
    fakenet 198.19.7.0/24
    table 17000 17001
    rspec 198.19.7.1:198.18.70.1:198.18.71.1 198.19.7.2:198.18.70.2:198.18.71.2
"""


def test_repairing_a_deleted_fwmark_rule_keeps_ifdown_working():
    with Lab("r") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(STANZA)
        a.ifagg("up", "tun7")
        rules = json.loads(a.run(["ip", "-j", "rule", "show"]).stdout)
        ours = [r for r in rules if r.get("protocol") in ("173", 173, "ifagg") and "fwmark" in r]
        assert ours, rules
        rule = ours[0]
        a.run(["ip", "rule", "del", "priority", str(rule["priority"]), "fwmark",
               str(rule["fwmark"]), "lookup", str(rule["table"])])
        assert a.ifagg("up", "tun7").stdout.strip() == "tun7: 1 change(s)"
        a.ifagg("down", "tun7")
        assert a.our_objects() == []
        assert a.ifagg("down", "tun7").stdout.strip() == "tun7: nothing to remove"

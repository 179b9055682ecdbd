"""The record in /run: merge never holds duplicates (pure)."""

from ifupdown_agg.core import record
from ifupdown_agg.core.objects import Route, Rule, Sysctl, TunDevice
from ifupdown_agg.core.ops import Op


def test_an_add_already_recorded_is_recorded_once():
    rule = Rule(100, 1, 17000)
    made = [Op("add", TunDevice("tun0")), Op("add", rule)]
    assert record.merge(made, [Op("add", rule)]) == made


def test_a_del_cancels_its_add_and_a_set_keeps_the_first_old_value():
    rule = Rule(100, 1, 17000)
    made = [Op("add", rule), Op("set", Sysctl("x", "2"), Sysctl("x", "1"))]
    out = record.merge(made, [Op("del", rule), Op("set", Sysctl("x", "0"), Sysctl("x", "2"))])
    assert out == [Op("set", Sysctl("x", "0"), Sysctl("x", "1"))]
    assert record.merge(out, [Op("set", Sysctl("x", "1"), Sysctl("x", "0"))]) == []


def test_a_route_of_ours_replaced_stays_one_add_of_the_new_value():
    """`ifagg up` repairs a drifted route of ours with a replace (a set): the record
    keeps one add, of the value now in the kernel, so ifdown deletes it and restores
    nothing; a route we replaced that was not ours keeps its set, to be put back."""
    ours = Route(10000, "198.19.0.2/32", "eth0", gateway="198.18.0.2")
    drifted = Route(10000, "198.19.0.2/32", "eth1", gateway="198.18.1.2")
    made = record.merge([Op("add", ours)], [Op("set", ours, drifted)])
    assert made == [Op("add", ours)]
    theirs = Route(254, "198.19.0.0/24", "tun0", prefsrc="198.19.0.1")
    with_metric = Route(254, "198.19.0.0/24", "tun0", prefsrc="198.19.0.1", rto_min=50)
    assert record.merge([], [Op("set", with_metric, theirs)]) == [Op("set", with_metric, theirs)]
    assert Op("set", with_metric, theirs).inverse() == Op("set", theirs, with_metric)
    assert Op("set", with_metric, theirs).describe().startswith("ip route replace 198.19.0.0/24")

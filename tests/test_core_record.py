"""The record in /run: merge never holds duplicates (pure)."""

from ifupdown_agg.core import record
from ifupdown_agg.core.objects import Rule, Sysctl, TunDevice
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

"""Weighted rotation and the state record's bookkeeping."""

from collections import Counter

from ifupdown_agg.core import record as state
from ifupdown_agg.core.ops import Op
from ifupdown_agg.core.objects import Route, Sysctl
from ifupdown_agg.overlay.nft_ruleset import reduce_weights, smooth_rotation


def test_rotation_is_proportional_and_interleaved():
    order = smooth_rotation([2, 1, 2])
    assert Counter(order) == {0: 2, 1: 1, 2: 2}
    assert all(a != b for a, b in zip(order, order[1:]))   # no link twice in a row here


def test_weights_reduce_to_a_short_map():
    assert reduce_weights([1000, 2500, 2500]) == (2, 5, 5)
    assert reduce_weights([10000] * 4) == (1, 1, 1, 1)
    big = reduce_weights([100, 224])
    assert sum(big) <= 64 and abs(big[1] / big[0] - 2.24) < 0.1


def test_merge_keeps_the_first_replaced_value_and_cancels_undone_adds():
    r1 = Route(10000, "10.0.0.2/32", "eth0", gateway="10.1.0.2")
    s_new, s_old = Sysctl("net/ipv4/conf/eth0/rp_filter", "2"), Sysctl("net/ipv4/conf/eth0/rp_filter", "1")
    made = state.merge([], [Op("add", r1), Op("set", s_new, s_old)])
    made = state.merge(made, [Op("del", r1), Op("set", s_new, s_new)])
    assert made == [Op("set", s_new, s_old)]
    # Restoring the original value leaves nothing to undo.
    assert state.merge(made, [Op("set", s_old, s_new)]) == []
    # Deleting something we never recorded is not recorded either.
    assert state.merge([], [Op("del", r1)]) == []

"""Issue #18: on fast members the overlay passes GSO packets built elsewhere whole
(no segmenting hop), on slow ones it segments them, and the choice follows the
members' rates through plan, check, up and ifdown.

Two hosts over two shaped links (500 Mbit/s, serialised), the overlay by real ifup
with its defaults (bpf, unpaced above 300 Mbit/s). The measured reason for the rule
is in overlay/spread.py (WHOLE_GSO_MIN). No test asserts a duration.
"""

import pytest

from lab.pair import overlay_pair
from ifupdown_agg.kernel.hop import names as hop_names

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
LINKS = 2
ENTRY, EXIT = hop_names("tun0")


@pytest.fixture(scope="module")
def fast():
    with overlay_pair("whole", LINKS, rate="500mbit") as lab_a_b:
        yield lab_a_b


def devices(host):
    return host.run(["ls", "/sys/class/net"]).stdout.split()


def reshape(lab, hosts, rate: str) -> None:
    for h in hosts:
        for i in range(LINKS):
            lab.shape(h, f"eth{i}", rate, "3kb", "20ms")


def test_fast_members_get_no_hop_and_the_plan_says_why(fast):
    lab, a, b = fast
    for h in (a, b):
        assert ENTRY not in devices(h) and EXIT not in devices(h)
        plan = h.ifagg("plan", "tun0").stdout
        assert "leave whole on one link (no segmenting hop)" in plan, plan
        assert "500 Mbit/s" in plan and "up to date" in plan
        assert h.ifagg("check", "tun0", check=False).returncode == 0


def test_slower_members_bring_the_hop_and_faster_ones_take_it_away(fast):
    lab, a, b = fast
    try:
        reshape(lab, (a,), "200mbit")
        found = a.ifagg("check", "tun0", check=False)
        assert found.returncode == 1 and "segmenting hop" in found.stdout, found.stdout
        a.ifagg("up", "tun0")
        assert ENTRY in devices(a) and EXIT in devices(a)
        assert a.ifagg("check", "tun0", check=False).returncode == 0
        assert "leave whole" not in a.ifagg("plan", "tun0").stdout
    finally:
        reshape(lab, (a,), "500mbit")
        a.ifagg("up", "tun0")
    assert ENTRY not in devices(a)
    assert a.ifagg("check", "tun0", check=False).returncode == 0


def test_a_hop_made_by_hand_is_drift_and_up_removes_it(fast):
    lab, a, b = fast
    a.run(["ip", "link", "add", ENTRY, "type", "veth", "peer", "name", EXIT])
    a.run(["ip", "link", "set", ENTRY, "alias", "ifupdown-agg segmenting hop"])
    a.run(["ip", "link", "set", EXIT, "alias", "ifupdown-agg segmenting hop"])
    assert a.ifagg("check", "tun0", check=False).returncode == 1
    a.ifagg("up", "tun0")
    assert ENTRY not in devices(a)


def test_ifdown_leaves_nothing(fast):
    lab, a, b = fast
    for h in (a, b):
        h.ifdown("tun0")
        assert h.our_objects() == []
        assert ENTRY not in devices(h)

"""The queue meters' pure parts: which NICs are metered, and the map value's packing
(struct meter in overlay/bpf/spread.bpf.c). Unprivileged."""

import struct

from ifupdown_agg.core.objects import from_json, to_json
from ifupdown_agg.core.spreader import Spreader
from ifupdown_agg.kernel import meters
from ifupdown_agg.overlay import spread


def test_every_member_with_a_known_rate_is_metered_once():
    assert spread.meters(["eth1", "eth0", "eth1"], [200, 100, 200], True) == (("eth0", 100), ("eth1", 200))
    # An unmetered path would look empty beside the metered ones: all or none.
    assert spread.meters(["eth0", "eth1"], [None, 1000], True) == ()


def test_no_meters_without_tcx():
    assert spread.meters(["eth0"], [100], False) == ()


def test_value_drains_at_the_rate_and_allows_one_frame():
    value = meters.pack(200)
    assert len(value) == 24          # lock, ps_per_byte, finish, slack_ns, pad
    _, ps_per_byte, finish, slack_ns, _ = struct.unpack("=IIQII", value)
    assert ps_per_byte == 40_000 and finish == 0
    assert slack_ns == 1514 * 40          # one full frame at 200 Mbit/s: 60.56 us
    assert meters.rate_of(value) == 200
    assert meters.rate_of(meters.pack(2500)) == 2500


def test_meters_are_part_of_what_check_compares_and_survive_the_record():
    one = Spreader("tun0", (), meters=(("eth0", 100),))
    assert one != Spreader("tun0", ())
    assert from_json(to_json(one)) == one
    assert "queues metered on eth0" in one.describe()
    # A record written before the meters reads as a spreader without them.
    old = to_json(Spreader("tun0", ()))
    old.pop("meters", None)
    assert from_json(old).meters == ()

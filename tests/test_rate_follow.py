"""A member NIC that comes back at another rate (a 2.5G USB adapter renegotiated to 1G
on a poor cable) rebases the link monitor's shares at once (monitor/repair.py), by
real ifup in namespaces: two links shaped at 300 Mbit/s share 50/50; one is shaped
down to 100 and its carrier bounced, as a renegotiation does; the monitor then
gives it 100 of 400 without a restart (health.json) and says why in its log."""

import json
import os

import pytest

from lab.cluster import wait_for
from lab.pair import overlay_pair

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]


@pytest.fixture(scope="module")
def cluster():
    with overlay_pair("rf", links=2, rate="300mbit") as (lab, _, _):
        yield lab


def shares(host) -> dict:
    """dev -> (share, why) of the host's paths to its peer, from its health.json."""
    try:
        with open(os.path.join(host.dir, "run", "ifupdown-agg", "tun0.health.json")) as fh:
            paths = json.load(fh)["paths"]
    except (OSError, ValueError, KeyError):
        return {}
    return {p["dev"]: (p.get("share"), p.get("share_why", "")) for p in paths}


def test_a_link_back_at_another_rate_rebases_the_shares(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    assert wait_for(lambda: {d: s for d, (s, _) in shares(a).items()} == {"eth0": 0.5, "eth1": 0.5},
                    20.0), shares(a)
    cluster.shape(a, "eth1", "100mbit")
    # The far end down and up: a's eth1 loses its carrier and gets it back.
    b.run(["ip", "link", "set", "eth1", "down"])
    assert wait_for(lambda: "NO-CARRIER" in a.run(["ip", "link", "show", "eth1"]).stdout, 5.0)
    b.run(["ip", "link", "set", "eth1", "up"])
    assert wait_for(lambda: shares(a).get("eth1", (None,))[0] == 0.25, 15.0), shares(a)
    assert shares(a)["eth0"][0] == 0.75
    with open(os.path.join(a.dir, "run", "ifupdown-agg", "tun0.monitor.log")) as fh:
        assert "eth1 came back at 100 Mbit/s (was 300 Mbit/s)" in fh.read()

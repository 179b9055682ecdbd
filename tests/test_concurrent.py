"""Runs started together do not undo each other (issue #13 item 6): two overlays on one
host, each round five `ifagg up` at once (three of the first, two of the second: the race
that once deleted the winner's device), then check, then three downs at once. The lock serialises them;
every run succeeds and nothing is left (without the lock, 3 of 5 rounds failed:
"File exists; undid ...", "ip link del tun7: Device or resource busy").

IFAGG_CONCURRENT_ROUNDS sets the rounds (default 4; `IFAGG_CONCURRENT_ROUNDS=20` was run
once: 20 rounds, 0 failures)."""

import os

import pytest

from lab.cluster import Lab
from lab.concurrent import OVERLAYS, TOGETHER

pytestmark = pytest.mark.root

ROUNDS = int(os.environ.get("IFAGG_CONCURRENT_ROUNDS", "4"))

STANZAS = OVERLAYS


@pytest.fixture(scope="module")
def host():
    with Lab("c") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(STANZAS)
        a.sh("sysctl -qw net.ipv4.conf.eth1.rp_filter=1")
        yield a


def _rp(h):
    return h.run(["sysctl", "-n", "net.ipv4.conf.eth1.rp_filter"]).stdout.strip()


def _together(h, *cmds):
    out = h.in_private_mounts(["sh", "-c", TOGETHER, "_", h.dir] + list(cmds)).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith("rc ")]
    assert len(lines) == len(cmds), out
    return lines


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_ups_and_downs(host, round_):
    for line in _together(host, "up tun7", "up tun8", "up tun7", "up tun8", "up tun7"):
        assert line.split()[2] == "0", line
    assert host.ifagg("check", check=False).returncode == 0
    objects = host.our_objects()
    assert len([o for o in objects if "proto 173" in o]) == 2 * (2 * 2 + 1), objects
    for line in _together(host, "down tun7", "down tun8", "down tun7"):
        assert line.split()[2] == "0", line
    assert host.our_objects() == []
    assert not os.path.exists(f"{host.dir}/run/ifupdown-agg/tun7.monitor.pid")
    assert _rp(host) == "1"


@pytest.mark.parametrize("first", ["tun7", "tun8"])
def test_a_shared_nic_keeps_loose_rp_filter_until_the_last_overlay_goes(host, first):
    """Both overlays use eth1, whose rp_filter was strict: the first down must not make it
    strict again under the second (it lost a third of its pings so)."""
    host.ifagg("up", "tun7")
    host.ifagg("up", "tun8")
    assert _rp(host) == "2"
    host.ifagg("down", first)
    assert _rp(host) == "2"
    assert host.ifagg("check", "tun8" if first == "tun7" else "tun7").returncode == 0
    host.ifagg("down", "tun8" if first == "tun7" else "tun7")
    assert _rp(host) == "1" and host.our_objects() == []

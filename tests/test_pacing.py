"""The pacing hop (agg-pace, issues #14/#19), on real kernel objects: two hosts over two
shaped links, the overlay by real ifup with its defaults (bpf, agg-pace auto).

Every packet to the peer passes the hop, whose tbf at the links' summed rate holds the
one standing queue; the overlay device's GSO cap is lifted (TCP builds full GSO packets
that the hop segments). check sees the tbf gone, up mends it, agg-pace off takes the hop
out of our own traffic's way, the monitor paces lower while a path is down, and ifdown
leaves nothing. No test asserts a duration or a rate.
"""

import json
import time

import pytest

from lab.pair import VIRT, overlay_pair, stanza as pair_stanza
from lab.transfer import transfer
from ifupdown_agg.kernel.hop import names as hop_names

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]
LINKS = 2
ENTRY = hop_names("tun0")[0]


def stanza(me: str, extra: str = "") -> str:
    return pair_stanza(me, LINKS, extra)


@pytest.fixture(scope="module")
def paced():
    with overlay_pair("pace", LINKS) as lab_a_b:
        yield lab_a_b


def tbf_rate(host) -> str:
    out = host.run(["tc", "qdisc", "show", "dev", ENTRY, "root"], check=False).stdout
    words = out.split()
    return words[words.index("rate") + 1] if "tbf" in words else ""


def gso_cap(host) -> int:
    return json.loads(host.run(["ip", "-j", "-d", "link", "show", "dev", "tun0"]).stdout)[0]["gso_max_segs"]


def wait_for(predicate, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.1)):
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_defaults_pace_at_the_links_sum_with_full_gso(paced):
    lab, a, b = paced
    for h in (a, b):
        assert wait_for(lambda: tbf_rate(h) == "200Mbit"), tbf_rate(h)
        assert gso_cap(h) == 64
        assert "pacing hop at 200 Mbit/s" in h.ifagg("plan", "tun0").stdout
    before = {ln["dev"]: ln["packets"] for ln in a.status("tun0")["links"]}
    result = transfer(lab, a, b, VIRT["b"], megabytes=20)
    assert result["intact"], result
    after = {ln["dev"]: ln["packets"] for ln in a.status("tun0")["links"]}
    sent = {d: after[d] - before[d] for d in after}
    assert all(n > sum(sent.values()) * 0.3 for n in sent.values()), sent


def test_check_sees_the_pacing_qdisc_gone_and_up_mends_it(paced):
    lab, a, b = paced
    a.run(["tc", "qdisc", "del", "dev", ENTRY, "root"])
    found = a.ifagg("check", "tun0", check=False)
    assert found.returncode == 1 and "pacing at 200 Mbit/s" in found.stdout, found.stdout
    a.ifagg("up", "tun0")
    assert tbf_rate(a) == "200Mbit"
    assert a.ifagg("check", "tun0", check=False).returncode == 0


def test_a_path_down_paces_lower_and_back(paced):
    lab, a, b = paced
    a.run(["ip", "link", "set", "eth1", "down"])
    try:
        assert wait_for(lambda: tbf_rate(a) == "100Mbit"), tbf_rate(a)
        assert a.status("tun0")["pace_mbit"] == {"planned": 200, "live": 100}
        assert "paced at 200 Mbit/s, now 100" in a.ifagg("status", "tun0").stdout
        assert a.run(["ping", "-c", "2", "-i", "0.2", "-W", "1", VIRT["b"]], check=False).returncode == 0
        # The live rate is the monitor's: check compares the planned one (the kernel
        # took the down link's routes, which check does report).
        assert "pacing" not in a.ifagg("check", "tun0", check=False).stdout
    finally:
        a.run(["ip", "link", "set", "eth1", "up"])
    assert wait_for(lambda: tbf_rate(a) == "200Mbit", 10), tbf_rate(a)


def test_pace_off_and_back(paced):
    lab, a, b = paced
    a.write_interfaces(stanza(VIRT["a"], "    agg-pace off\n"))
    a.ifagg("up", "tun0")
    assert tbf_rate(a) == "" and gso_cap(a) == 1
    assert a.ifagg("check", "tun0", check=False).returncode == 0
    assert a.run(["ping", "-c", "2", "-i", "0.2", VIRT["b"]], check=False).returncode == 0
    a.write_interfaces(stanza(VIRT["a"]))
    a.ifagg("up", "tun0")
    assert tbf_rate(a) == "200Mbit" and gso_cap(a) == 64
    assert a.ifagg("up", "tun0").stdout.count("change") == 0 or "nothing to change" in \
        a.ifagg("plan", "tun0").stdout


def test_ifdown_leaves_no_hop(paced):
    lab, a, b = paced
    for h in (a, b):
        h.ifdown("tun0")
        assert h.our_objects() == []
        h.ifup("tun0")

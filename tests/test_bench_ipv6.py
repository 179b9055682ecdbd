"""bench/ipv6.py's pure parts: the dual-stack stanza it brings up reads as the overlay's
config does, and the report's verdict against issue #16's target."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import ipv6  # noqa: E402

from ifupdown_agg.config import across, ifaces_file  # noqa: E402
from ifupdown_agg.overlay.model import overlay_from_options  # noqa: E402


@pytest.mark.parametrize("lines", [(), (ipv6.PACED,)])
def test_the_dual_stack_stanza_is_valid_and_reads_both_families(tmp_path, lines):
    path = tmp_path / "interfaces"
    path.write_text(ipv6.stanza(10, 4, "overlay-bpf") + "".join(f"    {o}\n" for o in lines)
                    + ipv6.stanza6(10, 4))
    assert across.validate(str(path)).errors == []
    six = ifaces_file.read(str(path)).find("tun0", "inet6")
    cfg = overlay_from_options("tun0", six.options, "inet6")
    # Host 10 finds itself in the rspec; its peer is b, one hop on each of the 4 links.
    assert [(p.virt, p.hops) for p in cfg.peers] == [
        ("fd19:ff::20", ("fd18::20", "fd18:1::20", "fd18:2::20", "fd18:3::20"))]


def _cell(**medians):
    def s(v):
        return None if v is None else {"median": v, "min": v, "max": v, "runs": [v]}
    return {"cell": "4x200/serialised", "rates": [200] * 4, "burst": "3kb",
            "load": {"start": "1.0 1.0 1.0", "end": "2.0 2.0 2.0"},
            "results": {k: {"fwd": s(v), "cpu_s_per_gbit": s(1.5), "retr": s(0),
                            "links": [[25, 25, 25, 25]]} for k, v in medians.items()}}


def test_the_verdict_is_the_ipv6_overlay_against_1_5x_the_best_single_link():
    cell = _cell(**{"overlay6": 600.0, "overlay4": 750.0, "overlay6-paced": 280.0,
                    "mptcp6": 500.0, "single-link6": 200.0})
    got = ipv6.verdicts(cell)
    assert got[0].startswith("- overlay6: 3.00x") and "**met**" in got[0]
    assert "80% of the IPv4 overlay (overlay4)" in got[0] and "120% of MPTCP over IPv6" in got[0]
    assert got[1].startswith("- overlay6-paced: 1.40x") and "**MISSED**" in got[1]


def test_a_failed_flow_is_no_measurement_and_renders_as_a_dash():
    cell = _cell(**{"overlay6": 0.0, "single-link6": 190.0})
    assert ipv6.verdicts(cell) == ["- overlay6: no measurement (a flow failed)"]
    meta = {"when": "now", "command": "c", "commit": "x", "machine": "m", "kernel": "k",
            "reps": 1, "seconds": 1, "load": {"start": "0", "end": "0"}}
    text = ipv6.render([_cell(**{"overlay6": None, "single-link6": 190.0})], meta)
    assert "| overlay6 | - | - | - |" in text and "| single-link6 | 190 [190-190] | 1.00 | 24% |" in text


def test_link_shares_are_the_sender_s_bytes_per_link():
    assert ipv6.shares([0, 10, 0, 0], [300, 110, 300, 300]) == [30, 10, 30, 30]
    assert ipv6.shares([5, 5], [5, 5]) == [0, 0]

"""agg-pace, pure: what the planner chooses (spread.pace) and the live rate the monitor
sets from the runs it writes (rotation.live_pace), and whether GSO packets built elsewhere
take the segmenting hop (spread.whole_gso). The planner folders bpf-pace*/ and
bpf-whole-gso-fast/ hold the whole plans; tests/test_pacing.py and test_whole_gso.py the
real kernel objects."""

import pytest

from ifupdown_agg.config.types import PACE
from ifupdown_agg.overlay import spread
from ifupdown_agg.overlay.rotation import live_pace


def test_auto_paces_at_the_sum_when_every_rate_is_known_and_tcx_is_there():
    rate, note, error = spread.pace("auto", "bpf", [200, 100], tcx=True)
    assert (rate, error) == (300, "") and "300 Mbit/s" in note and "64" in note


@pytest.mark.parametrize("mode, rates, tcx, why", [
    ("nft", [300, 100], True, ""),                       # agg-spread's note says why
    ("bpf", [300, None], True, "rate is unknown"),
    ("bpf", [300, 100], False, "no tcx"),
])
def test_auto_does_not_pace_and_says_why(mode, rates, tcx, why):
    rate, note, error = spread.pace("auto", mode, rates, tcx)
    assert rate == 0 and error == "" and why in note


def test_a_written_rate_is_kept_even_with_unknown_link_rates():
    assert spread.pace(2400, "bpf", [None, None], tcx=True)[0] == 2400


@pytest.mark.parametrize("mode, tcx", [("nft", True), ("bpf", False)])
def test_a_written_rate_that_cannot_be_had_is_an_error(mode, tcx):
    rate, _, error = spread.pace(500, mode, [300, 300], tcx)
    assert rate == 0 and "cannot pace" in error and "agg-pace auto or off" in error


def test_off_never_paces():
    assert spread.pace("off", "bpf", [300, 300], tcx=True) == (0, "", "")


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("off", "off"), ("600", 600)])
def test_the_option_parses(text, value):
    assert PACE.parse(text) == value


@pytest.mark.parametrize("text", ["0", "fast", "-1", "600mbit"])
def test_the_option_refuses(text):
    with pytest.raises(ValueError):
        PACE.parse(text)


BASE = [3750, 1250]          # runs of a 300 and a 100 Mbit/s path


@pytest.mark.parametrize("runs, wanted", [
    ({0: [3750, 1250]}, 400),                 # all in use
    ({0: [3750, 0]}, 300),                    # the slow path down
    ({0: [0, 1250]}, 100),                    # the fast one down
    ({0: [1250, 1250]}, 200),                 # the fast one at a third (busy)
    ({0: [3750, 0], 1: [0, 1250]}, 400),      # per path the most any peer uses
    ({0: [0, 0]}, 400),                       # nothing: keep the plan (never pace at 0)
    ({}, 400),
])
def test_live_pace_follows_the_runs_in_use(runs, wanted):
    assert live_pace(400, BASE, runs) == wanted


def test_not_paced_stays_unpaced():
    assert live_pace(0, BASE, {0: [3750, 0]}) == 0


def test_auto_does_not_pace_above_the_measured_limit():
    rate, note, _ = spread.pace("auto", "bpf", [300, 300], tcx=True)
    assert rate == 0 and "above 300" in note
    assert spread.pace("auto", "bpf", [100, 100, 100], tcx=True)[0] == 300


def test_a_kernel_without_tcx_gets_no_hop_attempt_and_no_warning(monkeypatch):
    # Bookworm's 6.1: no veth pair made and removed at every ifup; the plan's note says it.
    from ifupdown_agg.kernel import bpf, hop
    monkeypatch.setattr(hop, "supported", lambda release="": False)
    monkeypatch.setattr(hop, "make", lambda *a: pytest.fail("a hop was made"))
    assert bpf.wire_hop("tun0", 0) == "this kernel has no tcx (Linux 6.6)"
    paced, note, error = spread.pace("auto", "bpf", [100, 100], tcx=False)
    assert (paced, error) == (0, "") and "forwarded or tunnelled" in note


# ---- GSO packets built elsewhere: segmented in the hop, or whole (spread.whole_gso) -----

@pytest.mark.parametrize("rates, paced, tcx, whole", [
    ([500, 500], 0, True, True),             # fast members: whole, no hop
    ([1000, 2500], 0, True, True),
    ([1000, 100], 0, True, False),           # one slow member: its 64 KB bursts take 5 ms
    ([200, 200, 200], 0, True, False),
    ([100, 100], 200, True, False),          # pacing needs the hop
    ([500, None], 0, True, False),           # a rate unknown: the hop, as before
    ([500, 500], 0, False, False),           # no tcx: no hop to leave out, nothing to say
])
def test_whole_gso_on_fast_members_only(rates, paced, tcx, whole):
    got, note = spread.whole_gso(rates, paced, tcx)
    assert got is whole
    assert bool(note) is whole
    if whole:
        assert f"{min(rates)} Mbit/s" in note and "no segmenting hop" in note

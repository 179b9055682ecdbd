"""The BPF spreader's pure parts: runs, the choice of spreader, the
device MTU, the map values; and agg-spread auto falling back to nft when the kernel
refuses the program (in the memory kernel)."""

import dataclasses
import json
import os

import pytest

from planner_support import observed_from

from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RealExecutor
from ifupdown_agg.core.memory import MemoryKernel
from ifupdown_agg.core.objects import NftTable, Spreader
from ifupdown_agg.errors import ConfigError, SpreaderError
from ifupdown_agg.kernel import bpf
from ifupdown_agg.overlay import lifecycle, rates, spread

PLANNER = os.path.join(os.path.dirname(__file__), "planner")


def test_runs_last_about_80_us_on_their_link():
    top = spread.top_run([300, 1000])
    assert top == 10_000                                    # 1 Gbit/s x 80 us
    assert spread.runs([300, 1000], top) == [3000, 10_000]
    assert spread.runs([1, 0, 3], 12_000) == [4000, 0, 12_000]     # 0 keeps a path out
    assert spread.runs([0, 0], 12_000) == [0, 0]
    assert spread.top_run([300, None]) == spread.UNKNOWN_RUN


@pytest.mark.parametrize("slowest, segs", [(100, 1), (199, 1), (200, 2), (300, 2), (399, 2),
                                            (500, 2), (600, 3), (1000, 5), (10_000, 50),
                                            (100_000, 64), (None, 8)])
def test_auto_gso_keeps_60_us_and_pairs_segments_from_200_mbit(slowest, segs):
    obs = observed_from({"speeds": {"eth0": slowest, "eth1": slowest * 4 if slowest else None}})
    got, note = rates.auto_gso_segs(["eth0", "eth1"], obs)
    assert got == segs
    assert (note == rates.PAIRED) == (slowest in (200, 300, 399))


def test_auto_takes_bpf_where_it_can_and_says_why_not():
    assert spread.choose("auto", "/x.o", 4, 3) == ("bpf", "", "")
    mode, note, err = spread.choose("auto", None, 4, 3)
    assert mode == "nft" and "not installed" in note and not err
    mode, note, err = spread.choose("auto", "/x.o", 9, 3)
    assert mode == "nft" and "at most 8 tables" in note
    assert spread.choose("bpf", None, 4, 3)[2].endswith("set agg-spread nft (or auto)")
    assert spread.choose("nft", "/x.o", 4, 3) == ("nft", "", "")


def test_the_device_mtu_is_capped_at_the_smallest_member():
    assert spread.device_mtu("bpf", "tun0", 9000, [1500, 9000])[0] == 1500
    assert spread.device_mtu("bpf", "tun0", 1500, [1500, 9000]) == (None, "")
    assert spread.device_mtu("nft", "tun0", 9000, [1500]) == (None, "")
    assert spread.device_mtu("bpf", "tun0", 9000, [1500, None]) == (None, "")


def test_peer_values_round_trip_through_the_map_layout():
    value = bpf.pack_peer(3, [(4, "198.18.0.20", 3000, 3000), (5, "198.18.1.20", 0, 1000)])
    assert len(value) == bpf.PEER_SIZE == 216          # struct peer in spread.bpf.c
    assert bpf.unpack_peer(value) == (3, [(4, "198.18.0.20", 3000, 3000), (5, "198.18.1.20", 0, 1000)])
    with pytest.raises(ValueError):
        bpf.pack_peer(0, [(1, "198.18.0.1", 1, 1)] * 9)


def test_a_spreader_compares_by_its_base_runs_not_by_the_live_ones():
    a = Spreader("tun0", (("10.0.0.2", 1, (("eth0", "10.1.0.2", 3000),)),))
    b = Spreader("tun0", [["10.0.0.2", 1, [["eth0", "10.1.0.2", 3000]]]],     # as JSON gives it
                 live=[["10.0.0.2", 1, [["eth0", "10.1.0.2", 500]]]])
    assert a == b and a.layout() == b.layout()
    assert a != Spreader("tun0", (("10.0.0.2", 1, (("eth0", "10.1.0.2", 1000),)),))


class RefusingKernel(MemoryKernel):
    """A kernel without cls_bpf: attaching the spreader fails as tc would."""

    def observe(self):
        obs = super().observe()
        obs.bpf_program = None if bpf.unusable() else obs.bpf_program
        return obs

    def apply_all(self, ops):
        for n, op in enumerate(ops):
            if isinstance(op.obj, Spreader) and op.action == "add":
                done, err = super().apply_all(ops[:n])
                return done, err or SpreaderError("tc filter add dev tun0 egress ...: "
                                                  "Operation not supported")
        return super().apply_all(ops)


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(lifecycle, "keep_monitor", lambda loaded, restart: None)
    return tmp_path


def _seed(spread_option=""):
    folder = os.path.join(PLANNER, "bpf-seed-host10-fresh")
    with open(os.path.join(folder, "case.json")) as fh:
        obs = observed_from(json.load(fh)["observed"])
    loaded = lifecycle.from_file("tun0", os.path.join(folder, "interfaces"))
    if spread_option:
        loaded.cfg = dataclasses.replace(loaded.cfg, spread=spread_option)
    return obs, loaded


def test_auto_falls_back_to_nft_when_the_kernel_refuses_the_program(state, capsys):
    obs, loaded = _seed()
    kernel = RefusingKernel(obs)
    ops, desired = lifecycle.up(loaded, kernel, RealExecutor(kernel))
    assert desired.spread == "nft"
    assert any(isinstance(op.obj, NftTable) for op in ops)
    assert kernel.state.nft and not kernel.state.spreaders
    assert "spreading with nftables instead" in capsys.readouterr().err
    assert "Operation not supported" in bpf.unusable()


def test_bpf_asked_for_is_not_replaced(state):
    obs, loaded = _seed("bpf")
    kernel = RefusingKernel(obs)
    with pytest.raises(SpreaderError):
        lifecycle.up(loaded, kernel, RealExecutor(kernel))
    assert kernel_untouched(kernel, obs)
    assert not isinstance(SpreaderError("x"), ConfigError)


def kernel_untouched(kernel, obs):
    from ifupdown_agg.core.memory import kernel_objects
    return kernel_objects(kernel.observe()) == kernel_objects(MemoryKernel(obs).observe())

"""bench/datapath.py's stanzas (also bench/pods.py's) read as valid overlay configs, for
every competitor and for the shipped defaults: a bench that cannot bring its overlay
up finds out after minutes of setup, not here."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import datapath  # noqa: E402
import workloads  # noqa: E402
import verdicts  # noqa: E402

from ifupdown_agg.config import across  # noqa: E402


@pytest.mark.parametrize("kind", sorted(datapath.SPREAD_LINES))
@pytest.mark.parametrize("links", [2, 4])
def test_every_competitors_stanza_is_valid(tmp_path, kind, links):
    path = tmp_path / "interfaces"
    path.write_text(datapath.stanza(10, links, kind))
    assert across.validate(str(path)).errors == []


def test_the_defaults_add_no_option():
    assert "agg-" not in datapath.stanza(10, 2, "auto")


@pytest.mark.parametrize("cell", sorted(datapath.CELLS))
def test_every_cell_has_a_rate_per_link_and_a_burst(cell):
    rates, burst = datapath.CELLS[cell]
    assert rates and burst in (workloads.SERIALISED, workloads.WHOLE)


def _row(kind, bidir, fwd, rev=0.0, cpu=1.0):
    stat = (lambda v: {"median": v, "min": v, "max": v, "runs": [v]})
    return {"competitor": kind, "bidir": bidir, "fwd": stat(fwd), "rev": stat(rev),
            "cpu_s_per_gbit": stat(cpu), "retr": stat(0)}


def _cell(rates, overlay, mptcp, single, cpu=(1.0, 1.0)):
    """overlay and mptcp: (one flow, bidir forward, bidir reverse)."""
    return {"cell": "x", "rates": rates, "burst": "3kb",
            "results": [_row("overlay-bpf", False, overlay[0], cpu=cpu[0]),
                        _row("overlay-bpf", True, overlay[1], overlay[2]),
                        _row("mptcp", False, mptcp[0]), _row("mptcp", True, mptcp[1], mptcp[2]),
                        _row("single-link", False, single, cpu=cpu[1])]}


def test_verdicts_on_equal_links_meet_at_95_and_90():
    v = verdicts.cell_verdicts(_cell([300, 300], (571, 541, 545), (560, 540, 540), 290))
    assert {t: ok for t, (_, ok) in ((t, v[t]) for t in verdicts.TARGETS)} == {
        "one flow": True, "bidir each way": True, "ahead of MPTCP": True,
        "not below the best link": True, "CPU per Gbit": True}
    assert v["machine"] == ""


def test_verdicts_name_each_miss_and_the_machine_limit():
    v = verdicts.cell_verdicts(_cell([500, 500], (698, 434, 458), (824, 673, 647), 440, cpu=(2.0, 1.0)))
    assert v["one flow"] == ("69.8% (>= 95%)", False)
    assert v["bidir each way"][1] is False and v["ahead of MPTCP"][1] is False
    assert v["CPU per Gbit"] == ("2.00 vs 1.00: 2.0x (<= 1.3x)", False)
    assert v["machine"] == "the single link delivers 88.0% of its 500 Mbit/s"


def test_verdicts_on_unequal_links_want_90_and_unshaped_cells_no_percentages():
    assert verdicts.cell_verdicts(_cell([1000, 100], (991, 0, 0), (712, 0, 0), 845))["one flow"][1]
    v = verdicts.cell_verdicts(_cell([0, 0], (30000, 10000, 20000), (17000, 10000, 7000), 19000))
    assert "one flow" not in v and "bidir each way" not in v and v["ahead of MPTCP"][1]


def test_the_verdict_table_counts_what_it_judged():
    text = "\n".join(verdicts.render([_cell([300, 300], (571, 541, 545), (560, 540, 540), 290)]))
    assert "| x | 95.2% (>= 95%) met |" in text and "5 of 5 verdicts met" in text


def test_render_again_reads_a_result_and_refuses_what_is_not_one(tmp_path, capsys):
    good = tmp_path / "r.json"
    meta = {"when": "w", "commit": "c", "command": "k", "machine": "m", "kernel": "k",
            "reps": 1, "seconds": 4}
    good.write_text(json.dumps({"meta": meta, "cells": [_cell([300, 300], (571, 541, 545),
                                                              (560, 540, 540), 290)]}))
    saved = list(datapath.COMPETITORS)
    try:
        assert datapath.rerender(str(good)) == 0
    finally:
        datapath.COMPETITORS[:] = saved
    assert "Against #14's targets" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert datapath.rerender(str(bad)) == 2
    assert "not a datapath result" in capsys.readouterr().err


def test_a_two_process_row_gets_its_own_verdict_and_column(tmp_path, capsys):
    cell = _cell([300, 300], (571, 300, 250), (560, 540, 540), 290)
    two = _row("overlay-bpf", True, 545, 541)
    cell["results"] += [{**two, "processes": 2}, {**_row("mptcp", True, 548, 548), "processes": 2}]
    assert [verdicts.mode_of(r) for r in cell["results"][-3:]] == ["one", "two", "two"]
    v = verdicts.cell_verdicts(cell)
    assert v["bidir each way"][1] is False
    assert v["two processes each way"] == ("90.8% / 90.2% (>= 90%); MPTCP 548/548", True)
    text = "\n".join(verdicts.render([cell]))
    assert "| bidir each way | two processes each way |" in text.splitlines()[2]
    meta = {"when": "w", "commit": "c", "command": "k", "machine": "m", "kernel": "k",
            "reps": 1, "seconds": 4}
    assert "two processes forward" in datapath.render([cell], meta)


def test_back_target_is_a_on_the_same_path():
    assert datapath.back_target("overlay-bpf", [300, 300]) == ("198.19.255.10", ())
    assert datapath.back_target("mptcp", [300, 300]) == ("198.18.0.10", ("mptcpize", "run"))
    assert datapath.back_target("single-link", [100, 1000]) == ("198.18.1.10", ())

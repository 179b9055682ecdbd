"""bench/datapath.py's stanzas (also bench/pods.py's) read as valid overlay configs, for
every competitor and for the shipped defaults: a bench that cannot bring its overlay
up finds out after minutes of setup, not here."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import datapath  # noqa: E402

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
    assert rates and burst in ("3kb", "64kb")

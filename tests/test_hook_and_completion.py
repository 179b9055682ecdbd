"""The hook wrapper beside the package agrees with the option table: it calls us for
exactly the stanzas the registry calls ours."""

import os
import re

import pytest

from ifupdown_agg.config.registry import ALL_OPTIONS, groups_of, hook_patterns

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(REPO, "debian", "ifupdown-agg.if-up")


def read(path):
    with open(path) as fh:
        return fh.read()


def hook_greps():
    line = next(l for l in read(HOOK).splitlines() if l.startswith("env | grep"))
    return re.findall(r"-e '([^']*)'", line)


def test_the_hook_greps_what_the_registry_says_makes_a_stanza_ours():
    assert hook_greps() == hook_patterns()


@pytest.mark.parametrize("name", sorted(ALL_OPTIONS) + ["agg-new", "bond-new", "usbnet-new",
                                                        "gateway", "pre-up", "bridge-ports"])
def test_the_hook_runs_for_a_stanza_exactly_when_the_registry_reads_it(name):
    var = "IF_" + name.upper().replace("-", "_") + "=x"
    greps = any(re.match(p, var) for p in hook_greps())
    assert greps == bool(groups_of([name])), name


# The completion is generated from the parser and tested in tests/test_completion.py.

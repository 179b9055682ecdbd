"""The shell files beside the package agree with the option table and the parser: the
hook wrapper calls us for exactly the stanzas the registry calls ours, and the bash
completion offers the commands and flags ifagg has."""

import argparse
import os
import re

import pytest

from ifupdown_agg.cli.main import build_parser
from ifupdown_agg.config.registry import ALL_OPTIONS, groups_of, hook_patterns

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(REPO, "debian", "ifupdown-agg.if-up")
COMPLETION = os.path.join(REPO, "debian", "extra", "bash-completion", "ifagg")


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


def parser_commands():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def flags(cmd):
    return {s for a in cmd._actions for s in a.option_strings}


def branches():
    """The completion's `case ${words[1]}` branches: (commands, words offered)."""
    body = read(COMPLETION).split("case ${words[1]} in", 1)[1]
    for m in re.finditer(r"^\s+([\w|]+)\)\n(.*?);;", body, re.S | re.M):
        yield m.group(1).split("|"), m.group(2)


def test_the_completion_offers_exactly_the_commands_of_the_parser():
    line = re.search(r'local commands="([^"]*)"', read(COMPLETION)).group(1)
    assert sorted(line.split()) == sorted(parser_commands())


def test_every_flag_the_completion_offers_is_one_of_its_commands():
    commands = parser_commands()
    seen = set()
    for names, text in branches():
        assert set(names) <= set(commands), names
        seen.update(names)
        known = set().union(*(flags(commands[n]) for n in names))
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text):
            if flag not in ("-W", "-eq"):
                assert flag in known, (names, flag)
    assert "usbnet" in seen


def test_the_usbnet_actions_and_the_stanza_filters_come_from_parser_and_table():
    usbnet = parser_commands()["usbnet"]
    actions = next(a for a in usbnet._actions if a.choices and not a.option_strings).choices
    text = read(COMPLETION)
    assert re.search(r'cword -eq 2 \]\]; then\n\s+COMPREPLY=\(\$\(compgen -W "([^"]*)"',
                     text).group(1).split() == list(actions)
    filters = re.findall(r"_ifagg_stanzas '\^\(?([^)$']*)\)?\$'", text)
    assert filters
    for names in filters:
        for name in names.split("|"):
            assert name in ALL_OPTIONS, name

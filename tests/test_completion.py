"""The bash completion is generated from the parser (cli/completion.py): run it in bash
and check that it offers every command and flag the parser accepts, nothing else, and
stanza names from the -i file and what it sources."""

import argparse
import shutil
import subprocess

import pytest

from ifupdown_agg.cli import completion
from ifupdown_agg.cli.main import build_parser

pytestmark = pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")

# What bash-completion provides, reduced to what _ifagg uses.
STUBS = r"""
_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    cur=${words[cword]}; prev=${words[cword-1]}; }
_filedir() { COMPREPLY=("<files$*>"); }
"""


def complete(*words, script=None):
    """What the completion offers for `ifagg WORDS...` (the last word being completed)."""
    words = ("ifagg",) + words
    body = STUBS + (script or completion.script()) + (
        "COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + f"); COMP_CWORD={len(words) - 1}\n"
        "_ifagg; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    res = subprocess.run(["bash", "--norc", "--noprofile", "-c", body], capture_output=True,
                         text=True, timeout=20)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return sorted(w for w in res.stdout.splitlines() if w)


def paths(parser=None, path=()):
    """Every command path of the parser, with its parser."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from paths(sub, path + (name,))


def visible_flags(parser):
    return sorted(s for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
                  for s in a.option_strings)


def test_the_packaged_script_is_the_generated_one_and_parses():
    res = subprocess.run(["bash", "-n"], input=completion.script(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_command_and_every_flag_of_the_parser_and_nothing_else():
    script = completion.script()
    for path, parser in paths():
        assert complete(*path, "-", script=script) == visible_flags(parser), path
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs:
            assert complete(*path, "", script=script) == sorted(subs[0].choices), path


def test_hidden_options_are_not_offered_but_their_values_are_skipped():
    assert "--sysfs-root" not in complete("doctor", "--")
    assert complete("networkd", "generate", "--prefix", "x", "--root", "") == ["<files-d>"]


def test_check_has_no_watch_and_plan_no_dry_run():
    assert "--watch" not in complete("check", "--")
    assert not {"--all", "--dry-run", "--verbose"} & set(complete("plan", "--"))
    assert complete("usbnet", "") == ["down", "up"]


def test_stanzas_come_from_the_i_file_and_what_it_sources(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "bonds").write_text("iface bond0 inet manual\n    bond-mode 802.3ad\n")
    (tmp_path / "more").write_text("iface tun2 inet static\n    fakenet 10.1.0.0/24\n")
    main = tmp_path / "interfaces"
    main.write_text("iface eth0 inet dhcp\n"
                    "iface tun1 inet static\n    rspec 1.1.1.1:2.2.2.2\n"
                    "source more\nsource-directory d\n")
    assert complete("plan", "-i", str(main), "") == ["bond0", "tun1", "tun2"]
    assert complete("status", f"--interfaces={main}", "t") == ["tun1", "tun2"]
    assert complete("try", "-i", str(main), "tun1", "") == ["bond0", "tun1", "tun2"]
    assert complete("plan", "-i", "") == ["<files>"]
    assert complete("plan", "-i", str(main), "tun1", "") == []     # one stanza only

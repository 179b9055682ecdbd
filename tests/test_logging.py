"""The hook's lines carry a priority (issue #13 item 8): under systemd stderr is the
journal and each line starts with its "<N>" level; elsewhere the line goes to stderr and
to syslog, once, as err, warning or notice. Unprivileged: syslog is replaced."""

import os
import sys
import types

import pytest

from ifupdown_agg.cli import common


class FakeSyslog(types.SimpleNamespace):
    LOG_PID, LOG_DAEMON = 1, 24

    def __init__(self):
        super().__init__(lines=[])

    def openlog(self, ident, opts, facility):
        self.ident = ident

    def syslog(self, level, msg):
        self.lines.append((level, msg))


@pytest.fixture
def fake_syslog(monkeypatch):
    fake = FakeSyslog()
    monkeypatch.setitem(sys.modules, "syslog", fake)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    return fake


def test_outside_systemd_a_line_goes_to_stderr_and_syslog_with_its_priority(fake_syslog, capsys):
    common.log_line("tun0: rspec: bad", "err")
    common.log_line("bond0: warning: half duplex")
    common.log_line("tun0: [1/3] ip rule add ...")
    assert fake_syslog.ident == "ifupdown-agg"
    assert fake_syslog.lines == [(3, "tun0: rspec: bad"), (4, "bond0: warning: half duplex"),
                                 (5, "tun0: [1/3] ip rule add ...")]
    assert capsys.readouterr().err.splitlines()[0] == "ifupdown-agg: tun0: rspec: bad"


def test_under_systemd_the_journal_gets_the_level_prefix_once(fake_syslog, monkeypatch, tmp_path):
    out = open(tmp_path / "journal", "w")
    st = os.fstat(out.fileno())
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    common.log_line("tun0: cannot take the lock", "err")
    out.close()
    assert (tmp_path / "journal").read_text() == "<3>ifupdown-agg: tun0: cannot take the lock\n"
    assert fake_syslog.lines == []

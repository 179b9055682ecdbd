"""The hook's and the monitor's lines carry a priority (issue #13 item 8): under systemd
stderr is the journal and each line starts with its "<N>" level (and no time stamp: the
journal has its own); elsewhere the line goes to stderr and to syslog, once, as err,
warning, notice or info. One line per event. Unprivileged: syslog is replaced."""

import logging
import os
import subprocess
import sys
import types

import pytest

from ifupdown_agg.cli import common
from ifupdown_agg.monitor import logs


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


def test_an_event_of_several_lines_is_one_journal_line(fake_syslog, monkeypatch, tmp_path):
    """A line after the first would reach the journal with no priority of its own."""
    out = open(tmp_path / "journal", "w")
    st = os.fstat(out.fileno())
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    common.log_line("tun7: table 1 is tun8's too\ntun7: probe port 7431 is tun8's too", "err")
    out.close()
    assert (tmp_path / "journal").read_text() == (
        "<3>ifupdown-agg: tun7: table 1 is tun8's too; tun7: probe port 7431 is tun8's too\n")


# ---- the monitor (monitor/logs.py) -----------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _events(log):
    log.error("tun0: every path to 198.19.7.2 is down")
    log.warning("tun0: path to 198.19.7.2 via eth0 DOWN: 3 hellos lost")
    log.log(logs.NOTICE, "tun0: path to 198.19.7.2 via eth0 UP: 10 good")
    log.info("tun0: monitor stopped")
    log.error("tun0: cannot restore the routes: nft said\nline two\n")


def test_the_monitor_under_systemd_gives_each_event_one_journal_line_with_its_priority(
        fake_syslog, monkeypatch, tmp_path):
    out = open(tmp_path / "journal", "w")
    st = os.fstat(out.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    log = logging.getLogger("ifupdown-agg-test-journal")
    logs.setup(log, out)
    _events(log)
    out.close()
    assert (tmp_path / "journal").read_text().splitlines() == [
        "<3>tun0: every path to 198.19.7.2 is down",
        "<4>tun0: path to 198.19.7.2 via eth0 DOWN: 3 hellos lost",
        "<5>tun0: path to 198.19.7.2 via eth0 UP: 10 good",
        "<6>tun0: monitor stopped",
        "<3>tun0: cannot restore the routes: nft said; line two"]      # no time: the journal's
    assert fake_syslog.lines == []


def test_the_monitor_without_systemd_stamps_its_file_once_and_tells_syslog(
        fake_syslog, tmp_path):
    out = open(tmp_path / "monitor.log", "w")
    log = logging.getLogger("ifupdown-agg-test-file")
    logs.setup(log, out)
    logs.setup(log, out)          # set up twice: still one handler of each
    _events(log)
    out.close()
    lines = (tmp_path / "monitor.log").read_text().splitlines()
    assert [ln.split(" ", 3)[2:] for ln in lines] == [
        ["ERROR", "tun0: every path to 198.19.7.2 is down"],
        ["WARNING", "tun0: path to 198.19.7.2 via eth0 DOWN: 3 hellos lost"],
        ["NOTICE", "tun0: path to 198.19.7.2 via eth0 UP: 10 good"],
        ["INFO", "tun0: monitor stopped"],
        ["ERROR", "tun0: cannot restore the routes: nft said; line two"]]
    assert fake_syslog.ident == logs.IDENT
    assert [lvl for lvl, _ in fake_syslog.lines] == [3, 4, 5, 6, 3]
    assert fake_syslog.lines[2][1] == "tun0: path to 198.19.7.2 via eth0 UP: 10 good"


def test_the_monitors_path_changes_are_warning_down_and_notice_up(monkeypatch):
    """The call site in the daemon: DOWN is a warning, UP a notice, a drain and its end
    info, a peer with no path left an error."""
    from types import SimpleNamespace as NS
    from ifupdown_agg.monitor import daemon
    from ifupdown_agg.monitor.health import DOWN, DRAINED, RESUMED, UP, Change
    seen = []
    monkeypatch.setattr(daemon.log, "log", lambda lvl, fmt, *a: seen.append((lvl, fmt % a)))
    monkeypatch.setattr(daemon.log, "error", lambda fmt, *a: seen.append((40, fmt % a)))
    path = NS(peer="198.19.7.2", peer_index=0, dev="eth0", gateway="198.18.70.2",
              tables=(17000,))
    # name: the stanza's record the monitor is named by (tun0, or tun0.inet6).
    me = NS(name="tun0", cfg=NS(iface="tun0"), _rewrite=lambda idx: ["198.19.7.2"],
            kernel=NS(forget_neighbour=lambda dev, gw: None), write_health=lambda: None,
            exchange=NS(announce=lambda changes: None), pacer=NS(wake=lambda peers: None))
    daemon.Monitor._apply(me, [Change(path, DOWN, "3 hellos lost"), Change(path, UP, "back"),
                               Change(path, DRAINED, "2 lost"), Change(path, RESUMED, "heard")])
    assert [lvl for lvl, _ in seen] == [logging.WARNING, logs.NOTICE, logging.INFO, logging.INFO,
                                        logging.ERROR]
    assert "DRAINED: 2 lost" in seen[2][1] and "RESUMED: heard" in seen[3][1]
    assert seen[0][1].startswith("tun0: path to 198.19.7.2 via eth0 (198.18.70.2, tables "
                                 "17000) DOWN: 3 hellos lost")


def test_a_monitor_under_systemd_that_cannot_start_says_so_as_err(tmp_path):
    """The real daemon, unprivileged: no options file, one err line, no time stamp."""
    out = open(tmp_path / "journal", "w")
    st = os.fstat(out.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}",
               IFUPDOWN_AGG_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=ROOT)
    rc = subprocess.run([sys.executable, "-m", "ifupdown_agg", "monitor", "tun9"], env=env,
                        stdout=subprocess.DEVNULL, stderr=out, timeout=60).returncode
    out.close()
    text = (tmp_path / "journal").read_text()
    assert rc != 0 and "Traceback" not in text, text
    assert text.splitlines() == [f"<3>tun9: not up (no {tmp_path}/state/tun9.options.json)"], text

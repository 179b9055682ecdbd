"""The monitor's log lines (issue #13 item 8), as the hook's (cli/common.log_line): one
line per event with its syslog priority, stamped once.

  error   err       every path to a peer down, routes not restored, a bad key file
  warning warning   a path DOWN, a rotation not rewritten, a route put back
  notice  notice    a path UP again, keys reloaded
  info    info      started, stopped

Under systemd stderr is the journal: "<N>text", and the journal adds the time. Started
without systemd, stderr is the monitor's log file in the state directory (time and level
on each line) and each line also goes to syslog as ifupdown-agg-monitor[PID].
"""

from __future__ import annotations

import logging
import sys
from typing import Optional, TextIO

from ifupdown_agg.kernel import journal

NOTICE = 25                 # between INFO and WARNING, as syslog's notice
logging.addLevelName(NOTICE, "NOTICE")
IDENT = "ifupdown-agg-monitor"


def priority(levelno: int) -> int:
    """The syslog priority of a logging level."""
    for floor, name in ((logging.ERROR, "err"), (logging.WARNING, "warning"),
                        (NOTICE, "notice")):
        if levelno >= floor:
            return journal.PRIORITIES[name]
    return journal.PRIORITIES["info"]


class _Journal(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{priority(record.levelno)}>{journal.one_line(super().format(record))}"


class _File(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return journal.one_line(super().format(record))


class _Syslog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = journal.one_line(record.getMessage())
        except (TypeError, ValueError):
            return
        journal.to_syslog(IDENT, priority(record.levelno), msg)


def setup(log: logging.Logger, stream: Optional[TextIO] = None) -> None:
    """`log`'s handlers, replacing any it had (the monitor sets them up once per run)."""
    stream = stream or sys.stderr
    log.setLevel(logging.INFO)
    log.propagate = False
    for old in list(log.handlers):
        log.removeHandler(old)
    out = logging.StreamHandler(stream)
    log.addHandler(out)
    if journal.stderr_is_journal(stream):
        out.setFormatter(_Journal())
        return
    out.setFormatter(_File())
    log.addHandler(_Syslog())

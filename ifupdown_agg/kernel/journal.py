"""Where a line of ours goes, with its priority (issue #13 item 8): the hook's lines
(cli/common.log_line) and the monitor's (monitor/logs.py).

Under systemd, stderr is the journal: a line written as "<N>text" is one entry at
priority N, stamped by the journal alone. Elsewhere the line goes to stderr (a terminal,
ifupdown's output, the monitor's log file) and, once, to syslog with its priority.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, TextIO

# syslog(3) priorities by name (the syslog module's numbers, without importing it).
PRIORITIES = {"err": 3, "warning": 4, "notice": 5, "info": 6}


def stderr_is_journal(stream: Optional[TextIO] = None) -> bool:
    """systemd sets JOURNAL_STREAM=DEV:INODE when stderr is the journal (sd_journal_stream)."""
    want = os.environ.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


def one_line(msg: str) -> str:
    """An event is one line: a message of several lines is joined with '; '."""
    if "\n" not in msg and "\r" not in msg:
        return msg
    return "; ".join(part.strip() for part in msg.splitlines() if part.strip())


def to_syslog(ident: str, level: int, msg: str) -> None:
    """One line to syslog at `level` (facility daemon); nothing when there is no syslog."""
    try:
        import syslog
        syslog.openlog(ident, syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(level, msg)
    except (ImportError, OSError):
        pass

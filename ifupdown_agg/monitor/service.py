"""The monitor as a service: its options file, start and stop.

A leaf (it imports no wing): overlay's lifecycle starts and stops the monitor
through here, while the daemon, which imports overlay, lives in monitor/daemon.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional

from ifupdown_agg.config.schema import RawOption
from ifupdown_agg.core import record as state
from ifupdown_agg.errors import Location

UNIT = "ifupdown-agg-monitor@{}.service"
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def _file(iface: str, suffix: str) -> str:
    return os.path.join(state.STATE_DIR, f"{iface}.{suffix}")


# ---- the options the overlay is up with, for the monitor and for status -------------------

def save_options(iface: str, raw: Dict[str, RawOption]) -> None:
    _write_json(_file(iface, "options.json"),
                {"iface": iface, "options": {n: r.text for n, r in raw.items()}})


def forget_options(iface: str) -> None:
    for suffix in ("options.json", "monitor.log"):
        try:
            os.unlink(_file(iface, suffix))
        except FileNotFoundError:
            pass


def load_options(iface: str) -> Optional[Dict[str, RawOption]]:
    try:
        with open(_file(iface, "options.json")) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    where = Location(_file(iface, "options.json"))
    return {n: RawOption(t, where) for n, t in data.get("options", {}).items()}


def load_health(iface: str) -> Optional[dict]:
    try:
        with open(_file(iface, "health.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _write_json(path: str, data, indent: Optional[int] = 1) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp.")
    with os.fdopen(fd, "w") as fh:
        # dumps, not dump: dump streams through the pure-Python encoder (10x slower).
        fh.write(json.dumps(data, indent=indent))
    os.replace(tmp, path)


# ---- start and stop ------------------------------------------------------------------------

def running_pid(iface: str) -> Optional[int]:
    try:
        with open(_file(iface, "monitor.pid")) as fh:
            pid = int(fh.read().strip())
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None     # exited, not yet reaped by whoever inherited it
        return pid
    except (OSError, ValueError, IndexError):
        return None


def _systemd_unit_available() -> bool:
    return os.path.isdir("/run/systemd/system") and any(
        os.path.exists(os.path.join(d, UNIT.format(""))) for d in UNIT_DIRS)


def start(iface: str) -> None:
    """Start the monitor for `iface` unless it runs. Does not wait for it: ifup
    should not pay for its start-up, and it logs its own failures."""
    if running_pid(iface):
        return
    if _systemd_unit_available():
        subprocess.run(["systemctl", "start", "--no-block", UNIT.format(iface)], check=False)
        return
    os.makedirs(state.STATE_DIR, exist_ok=True)
    with open(_file(iface, "monitor.log"), "ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "ifupdown_agg", "monitor", iface],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True, close_fds=True,
                                env=dict(os.environ, IFUPDOWN_AGG_STATE_DIR=state.STATE_DIR))
    # Written here as well as by the monitor, so an ifdown right away finds it.
    with open(_file(iface, "monitor.pid"), "w") as fh:
        fh.write(f"{proc.pid}\n")


def stop(iface: str, wait: float = 3.0) -> None:
    if _systemd_unit_available():
        subprocess.run(["systemctl", "stop", UNIT.format(iface)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = running_pid(iface)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and running_pid(iface):   # bounded
            time.sleep(0.02)
        if running_pid(iface):
            os.kill(pid, signal.SIGKILL)
    for suffix in ("monitor.pid", "health.json"):
        try:
            os.unlink(_file(iface, suffix))
        except FileNotFoundError:
            pass

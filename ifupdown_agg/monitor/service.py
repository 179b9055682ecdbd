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
from typing import Dict, List, Optional

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

def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"   # Z: exited, not reaped
    except (OSError, IndexError):
        return False


def running_pid(iface: str) -> Optional[int]:
    try:
        with open(_file(iface, "monitor.pid")) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _monitor_of(argv: List[bytes]) -> Optional[str]:
    """The overlay a command line monitors: `python3 -m ifupdown_agg monitor IFACE` (a
    hook's start) or `python3 /usr/bin/ifagg monitor IFACE` (the systemd unit)."""
    for i in range(len(argv) - 2):
        if os.path.basename(argv[i]) in (b"ifupdown_agg", b"ifagg") and argv[i + 1] == b"monitor":
            return argv[i + 2].decode(errors="replace")
    return None


def strays(ifaces: Optional[List[str]] = None) -> Dict[int, str]:
    """Our monitors running in this network namespace (of `ifaces`, or all), found by
    their command line whatever the pid files say: a hook killed between starting one
    and writing its pid file leaves one running that no file names. pid -> overlay."""
    try:
        own = os.stat("/proc/self/ns/net")
        entries = os.listdir("/proc")
    except OSError:
        return {}
    found: Dict[int, str] = {}
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                iface = _monitor_of(fh.read().split(b"\0"))
            if iface is None or (ifaces is not None and iface not in ifaces):
                continue
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue            # gone, or not ours to read
        if (ns.st_dev, ns.st_ino) == (own.st_dev, own.st_ino) and _alive(int(entry)):
            found[int(entry)] = iface
    return found


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


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass                    # exited meanwhile


def stop(iface: str, wait: float = 3.0) -> None:
    if _systemd_unit_available():
        subprocess.run(["systemctl", "stop", UNIT.format(iface)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = set(strays([iface]))
    pid = running_pid(iface)
    if pid:
        pids.add(pid)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_alive(p) for p in pids):   # bounded
        time.sleep(0.02)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    for suffix in ("monitor.pid", "health.json"):
        try:
            os.unlink(_file(iface, suffix))
        except FileNotFoundError:
            pass

"""One lock for every run that changes the system: hook runs, `ifagg up/down/cleanup`
and the link monitor's rewrites take /run/ifupdown-agg/lock (flock) in turn.

ifupdown's hotplug path and ifup@.service run stanzas in parallel, and the
monitor rewrites the nft table while an ifup may be replacing it; two runs that
observe, plan and apply at once undo each other's work. The lock is held for a
whole run, so each one plans against what the last one left.

A waiter says once what it waits for (the holder writes its pid and purpose into
the file) and gives up after a bounded time with an error that names the holder;
nothing was changed then. Taking the lock again inside the run that holds it is
a no-op (the hook calls what the CLI calls). The file descriptor is close-on-exec,
so a monitor started while the lock is held does not inherit it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from typing import Callable, Iterator, Optional

from ifupdown_agg.core import record
from ifupdown_agg.errors import ApplyError

DEFAULT_TIMEOUT = 60.0
SAY_AFTER = 1.0         # seconds of waiting before the waiter says what it waits for
STEP = 0.05

_depth = [0]


class LockTimeout(ApplyError):
    """Another run held the lock for longer than we wait; nothing was changed."""


def lock_path() -> str:
    return os.path.join(record.STATE_DIR, "lock")


def timeout_default() -> float:
    try:
        return float(os.environ.get("IFUPDOWN_AGG_LOCK_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


def holder(path: Optional[str] = None) -> str:
    """What the lock file says of its last holder: "pid 123 (ifagg up tun0)"."""
    try:
        with open(path or lock_path()) as fh:
            pid, _, what = fh.read(200).strip().partition(" ")
    except OSError:
        return "another ifupdown-agg run"
    return f"pid {pid} ({what})" if pid.isdigit() else "another ifupdown-agg run"


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _acquire(fd: int, path: str, what: str, timeout: float,
             say: Optional[Callable[[str], None]], give_up: Callable[[], bool]) -> None:
    start = time.monotonic()
    said = False
    while not _try(fd):
        waited = time.monotonic() - start
        if give_up():
            raise LockTimeout(f"{what}: gave up waiting for {holder(path)} (asked to stop)")
        if waited >= timeout:
            raise LockTimeout(f"{what}: {holder(path)} has held {path} for {waited:.0f} s or "
                              f"more; nothing was changed. Try again when it has finished "
                              f"(fuser -v {path} shows it)")
        if say and not said and waited >= SAY_AFTER:
            say(f"{what}: waiting for {holder(path)} to release {path} "
                f"(up to {timeout:.0f} s)")
            said = True
        time.sleep(STEP)


@contextlib.contextmanager
def held(what: str, timeout: Optional[float] = None,
         say: Optional[Callable[[str], None]] = None,
         give_up: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Hold the lock for the block; `what` ("ifagg up tun0") is shown to waiters.
    `give_up` is asked while waiting (the monitor asked to stop gives up at once)."""
    if _depth[0]:
        _depth[0] += 1
        try:
            yield
        finally:
            _depth[0] -= 1
        return
    path = lock_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, path, what, timeout_default() if timeout is None else timeout, say,
                 give_up)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        _depth[0] = 1
        try:
            yield
        finally:
            _depth[0] = 0
    finally:
        os.close(fd)        # releases the flock

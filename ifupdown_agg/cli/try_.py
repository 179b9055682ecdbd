"""`ifagg try` and `ifagg confirm`: apply, wait for a confirmation, otherwise revert.

Like `netplan try`: the stanzas are applied as `ifagg up` applies them, what changed
is printed, and the change is kept only when `ifagg confirm` (or Enter, on a
terminal) comes before the timeout. Otherwise, and also when the terminal or SSH
session that started it goes away (SIGHUP, or its input ends), SIGINT or SIGTERM,
every applied op is undone newest first, the state directory's records and
monitor options are put back byte for byte, the monitors that ran before run
again, and the kernel's view of our objects is compared with the one taken before.
A USB gadget that the try made or replaced is deleted and the one before made again
from its record, its interface given back what it had (usb/converge.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sys
import time
from typing import Dict, List, Optional

from ifupdown_agg.cli import stanzas
from ifupdown_agg.cli.common import Command, add_source
from ifupdown_agg.errors import AggError

PENDING = "try.pending"
CONFIRM_WAIT = 15.0


class _Decided(Exception):
    def __init__(self, keep: bool, why: str):
        super().__init__(why)
        self.keep, self.why = keep, why


def tell(msg: str) -> None:
    """Print, and never fail: after a hangup the terminal may be gone."""
    try:
        print(msg, flush=True)
    except (OSError, ValueError):
        pass


# ---- the pending try: one at a time ------------------------------------------------------

def pending_path() -> str:
    return os.path.join(stanzas.state_dir(), PENDING)


def read_pending() -> Optional[dict]:
    """The pending try's {pid, stanzas, until}, or None (a stale file is removed)."""
    try:
        with open(pending_path()) as fh:
            data = json.load(fh)
        os.kill(int(data["pid"]), 0)
        return data
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    except ProcessLookupError:
        _unlink(pending_path())
        return None
    except PermissionError:
        return data


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def claim(names: List[str], until: float) -> None:
    """Create the pending file, or refuse when another try is pending."""
    os.makedirs(stanzas.state_dir(), exist_ok=True)
    for _ in range(2):      # bounded: a stale file is removed once, then claimed
        try:
            fd = os.open(pending_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            other = read_pending()
            if other is not None:
                raise AggError(f"a try is already pending (pid {other['pid']}, "
                               f"{' '.join(other.get('stanzas', []))}): "
                               "`ifagg confirm` keeps it; otherwise it reverts at its timeout")
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "stanzas": names, "until": until}, fh)
        return
    raise AggError(f"cannot claim {pending_path()}")


# ---- the state before ---------------------------------------------------------------------

def _state_files() -> List[str]:
    """Records and monitor options: what up and down change in the state directory."""
    try:
        entries = os.listdir(stanzas.state_dir())
    except FileNotFoundError:
        return []
    return [os.path.join(stanzas.state_dir(), e) for e in sorted(entries)
            if e.endswith(".json") and not e.startswith(".") and not e.endswith(".health.json")]


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


class Snapshot:
    """The state directory's files and the kernel's view of our objects, before the try."""

    def __init__(self, kernel, overlays: List[str], usbs: List[str] = ()):
        from ifupdown_agg.core.memory import kernel_objects
        self.files: Dict[str, Optional[bytes]] = {p: _read(p) for p in _state_files()}
        self.objects = kernel_objects(kernel.observe())
        self.monitors = {name: _monitor_running(name) for name in overlays}
        self.usb = None
        if usbs:
            from ifupdown_agg.usb.converge import Before
            self.usb = Before(list(usbs), kernel)
        self.touched: Optional[set] = None     # the files the apply changed, once known

    def applied(self) -> None:
        """After the apply: the files it changed are the ones a revert puts back, so a
        record another run writes meanwhile (an ifup of another stanza) is left alone."""
        now = {p: _read(p) for p in _state_files()}
        self.touched = {p for p in set(self.files) | set(now) if self.files.get(p) != now.get(p)}

    def restore_files(self) -> None:
        paths = self.touched if self.touched is not None else set(self.files) | set(_state_files())
        for path in sorted(paths):
            old = self.files.get(path)
            if old is None:
                _unlink(path)
            elif _read(path) != old:
                tmp = path + ".try-restore"
                with open(tmp, "wb") as fh:
                    fh.write(old)
                os.replace(tmp, path)

    def differences(self, kernel) -> List[str]:
        from ifupdown_agg.core.memory import kernel_objects
        now = kernel_objects(kernel.observe())
        return ([f"missing: {o}" for o in self.objects - now]
                + [f"extra: {o}" for o in now - self.objects])


def _monitor_running(name: str) -> bool:
    from ifupdown_agg.monitor import service as monitor
    return monitor.running_pid(name) is not None


def unrestorable(ops) -> List[str]:
    """Planned changes whose undo is unknown: a value set with nothing recorded to put back,
    on an object the same plan does not create."""
    from ifupdown_agg.core.ops import Action
    made = {getattr(op.obj, "name", None) for op in ops if op.action is Action.ADD}
    return [op.describe() for op in ops
            if op.action is Action.SET and op.old is None and getattr(op.obj, "name", None) not in made]


# ---- apply, wait, keep or revert ----------------------------------------------------------

def preflight(targets, interfaces: str, kernel) -> None:
    """Plan every stanza as a dry run first: refuse what could not be put back."""
    from ifupdown_agg.core.executor import RecordingExecutor
    for name, kind in targets:
        planned = RecordingExecutor()
        stanzas.up(name, kind, interfaces, kernel, planned)
        bad = unrestorable(planned.ops)
        if bad:
            raise AggError(f"{name}: the kernel has drifted from the record in a way a revert "
                           f"could not undo ({'; '.join(bad)}); run `ifagg up {name}` or "
                           f"`ifagg down {name}` first")


def revert(snap: Snapshot, applied, kernel, executor, overlays: List[str]) -> List[str]:
    """Undo the applied ops newest first, put the state files back, restart the monitors
    that ran before; return what still differs from the state before."""
    from ifupdown_agg.monitor import service as monitor
    for name in overlays:
        monitor.stop(name)      # before the nft tables it rewrites change back
    if snap.usb is not None:
        snap.usb.quiet(applied)
    undo = [u for u in (op.inverse() for op in reversed(applied)) if u is not None]
    result = executor.run(undo, rollback=False)
    if snap.usb is not None:
        snap.usb.put_back(result.applied, kernel, executor, tell)
    snap.restore_files()
    for name in overlays:
        if snap.monitors.get(name):
            monitor.start(name)
    return list(result.errors) + snap.differences(kernel)


def trial(targets, interfaces: str, kernel, executor, decide, hold=None) -> int:
    """Apply TARGETS, ask `decide()` for (keep, why), keep or revert. 0 kept, 1 reverted.
    `hold(what)` is the lock of runs that change the system: held while applying and
    while reverting, not while waiting, so hooks and the monitor go on meanwhile."""
    hold = hold or (lambda what: contextlib.nullcontext())
    names = " ".join(n for n, _ in targets)
    overlays = [n for n, k in targets if k == stanzas.OVERLAY]
    with hold(f"ifagg try {names}"):
        preflight(targets, interfaces, kernel)
        snap = Snapshot(kernel, overlays, [n for n, k in targets if k == stanzas.USB])
        applied = _apply(targets, interfaces, kernel, executor, snap, overlays)
        snap.applied()
    if not applied:
        return 0
    keep, why = decide()
    if keep:
        tell(f"kept ({why})")
        return 0
    with hold(f"ifagg try {names}: revert"):
        left = revert(snap, applied, kernel, executor, overlays)
    tell(f"reverted ({why})" + ("" if not left else "; still different: " + "; ".join(left)))
    return 1


def _apply(targets, interfaces: str, kernel, executor, snap: Snapshot, overlays) -> list:
    applied: list = []
    try:
        for name, kind in targets:
            ops = stanzas.up(name, kind, interfaces, kernel, executor)
            applied += ops
            tell(f"{name}: {len(ops)} change(s)" if ops else f"{name}: already up to date")
            for op in ops:
                tell(f"  {op.describe()}")
    except Exception:
        revert(snap, applied, kernel, executor, overlays)   # the failed stanza undid itself
        raise
    return applied


class Waiter:
    """Waits for SIGUSR1 (`ifagg confirm`), Enter on a terminal, or the timeout; a hangup,
    the end of the terminal's input, SIGINT or SIGTERM decide for a revert. The handlers
    stay in place until the revert is done, so a second signal cannot cut it short."""

    SIGNALS = {signal.SIGUSR1: (True, "ifagg confirm"), signal.SIGHUP: (False, "hangup"),
               signal.SIGINT: (False, "interrupted"), signal.SIGTERM: (False, "terminated")}

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.got: List[tuple] = []
        self.saved = {s: signal.signal(s, self._note) for s in self.SIGNALS}

    def _note(self, signum, frame) -> None:
        self.got.append(self.SIGNALS[signum])

    def restore(self) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)

    def __call__(self):
        tty = _isatty()
        tell(f"Keep these changes? Run `ifagg confirm`{' or press Enter' if tty else ''} "
             f"within {self.timeout:g} s; otherwise they are reverted.")
        deadline = time.monotonic() + self.timeout
        while not self.got:     # bounded by the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                return False, f"no confirmation within {self.timeout:g} s"
            if not tty:
                time.sleep(min(left, 0.2))
                continue
            try:
                ready = select.select([sys.stdin], [], [], min(left, 0.2))[0]
                line = os.read(sys.stdin.fileno(), 4096) if ready else None
            except OSError:
                return False, "the terminal went away"
            if line == b"":
                return False, "the terminal's input ended"
            if line and b"\n" in line:
                return True, "Enter"
        return self.got[0]


def _isatty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


class Try(Command):
    name = "try"
    help = "apply stanzas, and revert them unless confirmed in time"
    formatter_class = argparse.RawDescriptionHelpFormatter
    description = """\
Apply the stanzas as `ifagg up` does (overlays, bonds, USB gadget links), print
each change, and wait. The changes are kept when `ifagg confirm` runs (from any
shell) or Enter is pressed on this terminal within the timeout.

Otherwise, at the timeout, or at once when the terminal or SSH session goes away
(a hangup), on Ctrl-C or on SIGTERM, every change is undone newest first and the
state before is put back exactly: the kernel objects (rules, routes, nft tables,
bond settings and ports, USB gadgets and their interfaces), the records in the
state directory and the link monitors. It prints "reverted (why)", and anything
that still differs, and exits 1.

One try at a time: another is refused while one is pending. A change whose undo
is unknown (the kernel has drifted from the record) is refused before anything
changes. A new USB gadget's interface does not get the stanza's address (ifup
sets that). A try killed with SIGKILL cannot revert: `ifagg up` with the old
stanza, or `ifagg down`, repairs by hand. Exit 0 when kept, 1 when reverted or
refused."""
    epilog = """\
examples:
  ifagg try tun0                apply tun0's stanza; keep it with Enter, or with
                                `ifagg confirm` from another shell, within 120 s
  ifagg try --timeout 30 bond0  the same for a bond, with 30 s to confirm
  ifagg try -a                  every auto stanza of ours at once"""

    def add_arguments(self, p) -> None:
        p.add_argument("iface", nargs="*", metavar="STANZA", help="stanzas to apply")
        p.add_argument("-a", "--all", action="store_true",
                       help="every stanza of ours marked auto or allow-*")
        add_source(p)
        p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                       help="seconds to wait for the confirmation (default: %(default)g)")

    def run(self, args) -> int:
        from ifupdown_agg.core.executor import RealExecutor
        from ifupdown_agg.kernel.netlink import Kernel
        if bool(args.iface) == bool(args.all):
            raise AggError("try: name the stanzas, or -a for every auto stanza (not both)")
        if not args.timeout > 0:
            raise AggError(f"try: --timeout {args.timeout:g}: give a number of seconds above 0")
        targets = stanzas.ours(args.interfaces, args.iface, only_auto=args.all)
        waiter = Waiter(args.timeout)   # first: a confirm right after the claim finds it
        try:
            claim([n for n, _ in targets], time.time() + args.timeout)
        except BaseException:
            waiter.restore()
            raise
        kernel = None
        outcome = "error"
        try:
            kernel = Kernel()
            code = trial(targets, args.interfaces, kernel, RealExecutor(kernel), waiter,
                         stanzas.changing)
            outcome = "kept" if code == 0 else "reverted"
            return code
        finally:
            if kernel is not None:
                kernel.close()
            _finish(outcome)
            waiter.restore()


def _finish(outcome: str) -> None:
    last = os.path.join(stanzas.state_dir(), "try.last")
    try:
        with open(last, "w") as fh:
            json.dump({"pid": os.getpid(), "outcome": outcome}, fh)
    except OSError:
        pass
    _unlink(pending_path())


class Confirm(Command):
    name = "confirm"
    help = "keep the changes of the pending `ifagg try`"
    description = ("Tell the pending `ifagg try` to keep its changes, and wait until it has. "
                   "Exit 0 when they are kept, 1 when there is no try pending or it reverted.")

    def run(self, args) -> int:
        pending = read_pending()
        if pending is None:
            raise AggError("no `ifagg try` is pending")
        os.kill(int(pending["pid"]), signal.SIGUSR1)
        deadline = time.monotonic() + CONFIRM_WAIT
        while os.path.exists(pending_path()) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            with open(os.path.join(stanzas.state_dir(), "try.last")) as fh:
                last = json.load(fh)
        except (OSError, ValueError):
            last = {}
        if last.get("pid") == pending["pid"] and last.get("outcome") == "kept":
            print(f"kept: {' '.join(pending.get('stanzas', []))}")
            return 0
        raise AggError(f"the try of {' '.join(pending.get('stanzas', []))} did not keep its "
                       f"changes ({last.get('outcome', 'still running')})")

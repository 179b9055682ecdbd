"""Executors run a plan: for real (all or nothing), as a dry run, or recorded."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, TextIO

from ifupdown_agg.errors import ApplyError
from ifupdown_agg.core.ops import Op

Progress = Optional[Callable[[int, int, Op], None]]


@dataclass
class Result:
    """What one run did. `planned` is the ops given; `applied` what was really done to
    the kernel ([] for a dry run or a recording); `changed_kernel` whether the run went
    to the kernel at all (true for a real run even with nothing to do), i.e. whether
    `applied` is the truth the record must follow."""

    planned: List[Op] = field(default_factory=list)
    applied: List[Op] = field(default_factory=list)
    changed_kernel: bool = False
    failed: List[Op] = field(default_factory=list)      # only when run without rollback
    errors: List[str] = field(default_factory=list)


class RecordingExecutor:
    """Keeps the ops it is given; for tests and for `plan --json`."""

    changes_kernel = False      # read only before a run (pre-flight, monitor stop)

    def __init__(self):
        self.ops: List[Op] = []

    def run(self, ops: Sequence[Op], rollback: bool = True) -> Result:
        self.ops.extend(ops)
        return Result(list(ops))


class DryRunExecutor:
    """Prints what would be done, one iproute2/nft-like line per change."""

    changes_kernel = False

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out

    def run(self, ops: Sequence[Op], rollback: bool = True) -> Result:
        for op in ops:
            print(op.describe(), file=self.out)
        return Result(list(ops))


class RealExecutor:
    """Applies ops in order; if one fails, undoes the ones before it, newest first."""

    changes_kernel = True

    def __init__(self, kernel, progress: Progress = None):
        self.kernel = kernel
        self.progress = progress

    def run(self, ops: Sequence[Op], rollback: bool = True) -> Result:
        if not rollback:
            return self._converge(ops)
        done, err = self.kernel.apply_all(ops)
        if self.progress:
            for n, op in enumerate(done, 1):
                self.progress(n, len(ops), op)
        if err is not None:
            failures = self._rollback(done)
            msg = str(err)
            if done:
                msg += f"; undid the {len(done)} change(s) made before it"
            if failures:
                msg += "; could not undo: " + "; ".join(failures)
            # The same kind of error, so a caller can tell what failed (SpreaderError).
            raise (type(err) if isinstance(err, ApplyError) else ApplyError)(msg)
        return Result(list(ops), list(done), True)

    def _converge(self, ops: Sequence[Op]) -> Result:
        """Without rollback (a down): an op that fails is skipped and the rest go on,
        so as much as possible goes; the Result names what failed, the caller raises."""
        applied: List[Op] = []
        failed: List[Op] = []
        errors: List[str] = []
        rest = list(ops)
        while rest:     # bounded: each round consumes at least one op
            done, err = self.kernel.apply_all(rest)
            applied += done
            rest = [op for op in rest if not any(op is d for d in done)]
            if err is not None:
                failed.append(rest[0])
                errors.append(str(err))
                rest = rest[1:]
        if self.progress:
            for n, op in enumerate(applied, 1):
                self.progress(n, len(ops), op)
        return Result(list(ops), applied, True, failed, errors)

    def _rollback(self, done: Sequence[Op]) -> List[str]:
        failures = []
        # A set with nothing to restore (a value on a bond we created) has no undo:
        # the bond's own deletion takes it along.
        undo = [u for u in (op.inverse() for op in reversed(done)) if u is not None]
        while undo:     # bounded: each round consumes at least one op
            undone, err = self.kernel.apply_all(undo)
            undo = [op for op in undo if not any(op is d for d in undone)]
            if err is not None:
                failures.append(str(err))
                undo = undo[1:]     # skip what cannot be undone, go on with the rest
        return failures

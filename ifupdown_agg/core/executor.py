"""Executors run a plan: for real (all or nothing), as a dry run, or recorded."""

from __future__ import annotations

import sys
from typing import Callable, List, Optional, Sequence, TextIO

from ifupdown_agg.errors import ApplyError
from ifupdown_agg.core.ops import Op

Progress = Optional[Callable[[int, int, Op], None]]


class RecordingExecutor:
    """Keeps the ops it is given; for tests and for `plan --json`."""

    changes_kernel = False

    def __init__(self):
        self.ops: List[Op] = []

    def run(self, ops: Sequence[Op]) -> List[Op]:
        self.ops.extend(ops)
        return list(ops)


class DryRunExecutor:
    """Prints what would be done, one iproute2/nft-like line per change."""

    changes_kernel = False

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out

    def run(self, ops: Sequence[Op]) -> List[Op]:
        for op in ops:
            print(op.describe(), file=self.out)
        return []


class RealExecutor:
    """Applies ops in order; if one fails, undoes the ones before it, newest first."""

    changes_kernel = True

    def __init__(self, kernel, progress: Progress = None):
        self.kernel = kernel
        self.progress = progress

    def run(self, ops: Sequence[Op]) -> List[Op]:
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
            raise ApplyError(msg)
        return done

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

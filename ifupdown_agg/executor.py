"""Executors run a plan: for real (all or nothing), as a dry run, or recorded."""

from __future__ import annotations

import sys
from typing import Callable, List, Optional, Sequence, TextIO

from .errors import AggError, ApplyError
from .kobjects import Op

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
        done: List[Op] = []
        for n, op in enumerate(ops, 1):
            try:
                self.kernel.apply(op)
            except AggError as err:
                failures = self._rollback(done)
                msg = str(err)
                if done:
                    msg += f"; undid the {len(done)} change(s) made before it"
                if failures:
                    msg += "; could not undo: " + "; ".join(failures)
                raise ApplyError(msg) from None
            done.append(op)
            if self.progress:
                self.progress(n, len(ops), op)
        return done

    def _rollback(self, done: Sequence[Op]) -> List[str]:
        failures = []
        for op in reversed(done):
            try:
                self.kernel.apply(op.inverse())
            except AggError as err:
                failures.append(str(err))
        return failures

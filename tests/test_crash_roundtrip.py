"""A run killed at any op (SIGKILL, power) still leaves ifdown a record to undo from
(issue #13 item 1): the record is written ahead of the run. For every overlay planner
case and every op of its ifup, the in-memory kernel "dies" before that op (no
rollback, no record written after), then ifdown runs: the kernel is as it was before
the ifup, rp_filter and the GSO limit included. Unprivileged."""

import pytest

from test_roundtrip import CASES, OverlayCase, _NoMonitor, _cleared  # noqa: F401
import test_roundtrip

from ifupdown_agg.core import record
from ifupdown_agg.core.executor import RealExecutor, RecordingExecutor
from ifupdown_agg.core.memory import MemoryKernel, kernel_objects
from ifupdown_agg.overlay import lifecycle as overlay_lifecycle


class Killed(BaseException):
    """What SIGKILL is to the run: nothing after it happens, no except clause sees it."""


class DyingKernel(MemoryKernel):
    def __init__(self, snapshot, die_at):
        super().__init__(snapshot)
        self.die_at, self.tried = die_at, 0

    def apply_all(self, ops):
        done = []
        for op in ops:
            if self.tried == self.die_at:
                raise Killed()
            self.tried += 1
            one, err = super().apply_all([op])
            done += one
            if err is not None:
                return done, err
        return done, None


OVERLAY_CASES = [c for c in CASES if c.startswith("overlay/")]


@pytest.mark.parametrize("case", OVERLAY_CASES, indirect=True)
def test_a_run_killed_at_any_op_is_undone_by_ifdown(case, monkeypatch):
    lifecycle, start = case
    before = kernel_objects(MemoryKernel(start).observe())
    planned = lifecycle.up(MemoryKernel(start), RecordingExecutor())
    assert planned
    for k in range(len(planned) + 1):
        lifecycle.reset()
        kernel = DyingKernel(start, die_at=k)
        try:
            lifecycle.up(kernel, RealExecutor(kernel))
        except Killed:
            pass
        kernel.die_at = -1              # ifdown runs in a new process
        lifecycle.down(kernel)
        after = kernel_objects(kernel.observe())
        expected = before - _cleared(planned)
        assert (k, sorted(map(repr, expected - after)),
                sorted(map(repr, after - expected))) == (k, [], []), planned[k:k + 1]
        assert record.load(lifecycle.iface) == []


case = test_roundtrip.case      # the fixture: the record in tmp_path, no monitor

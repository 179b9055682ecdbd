"""Op and its inverse; the executor's rollback after a bond created with settings (pure)."""

import json

import pytest

from ifupdown_agg.core.executor import RealExecutor
from ifupdown_agg.core.objects import Bond, BondSettings, Enslave, Rule
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import ApplyError


class FakeKernel:
    """apply_all as the Kernel does it: in order until one fails; refuses None objects."""

    def __init__(self, fail_on=()):
        self.fail_on = set(fail_on)
        self.calls = []

    def apply_all(self, ops):
        done = []
        for op in ops:
            if op.obj is None:
                raise TypeError(op.obj)     # what Kernel._apply does with an op on None
            if (op.action, op.obj) in self.fail_on:
                return done, ApplyError(f"{op.describe()}: Device or resource busy")
            self.calls.append(op)
            done.append(op)
        return done, None


def test_action_keeps_the_record_words():
    op = Op("add", Rule(100, 1, 101))
    assert op.action is Action.ADD and op.action == "add"
    assert json.loads(json.dumps(op.to_json()))["action"] == "add"
    assert f"{op.action} x" == "add x"


def test_a_set_with_nothing_to_restore_inverts_to_nothing():
    assert Op("set", BondSettings("bond0", (("miimon", 100),)), None).inverse() is None
    old = BondSettings("bond0", (("miimon", 0),))
    new = BondSettings("bond0", (("miimon", 100),))
    assert Op("set", new, old).inverse() == Op("set", old, new)


def test_failed_enslave_after_a_bond_made_with_settings_rolls_back_cleanly():
    ops = [Op("add", Bond("bond0", "802.3ad")),
           Op("set", BondSettings("bond0", (("miimon", 100),)), None),
           Op("add", Enslave("eth1", "bond0"))]
    kernel = FakeKernel(fail_on={(Action.ADD, Enslave("eth1", "bond0"))})
    with pytest.raises(ApplyError) as err:
        RealExecutor(kernel).run(ops)
    assert "could not undo" not in str(err.value)
    assert kernel.calls[2:] == [Op("del", Bond("bond0", "802.3ad"))]


def test_every_executor_answers_with_a_result():
    import io
    from ifupdown_agg.core.executor import DryRunExecutor, RecordingExecutor
    ops = [Op("add", Rule(100, 1, 101))]
    for ex in (DryRunExecutor(io.StringIO()), RecordingExecutor()):
        res = ex.run(ops)
        assert (res.planned, res.applied, res.changed_kernel) == (ops, [], False)
    res = RealExecutor(FakeKernel()).run(ops)
    assert (res.planned, res.applied, res.changed_kernel) == (ops, ops, True)

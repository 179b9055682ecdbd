"""One transaction per stanza: load the record once, observe, plan, run, merge, save once
(up_records: once per record, for a stanza whose changes two records keep).

Up is all or nothing (the executor rolls back on failure, the record is unchanged).
Down converges: what is already gone counts as removed, a failure does not stop the
rest, the record keeps exactly what is still there, and the error names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

from ifupdown_agg.core import record
from ifupdown_agg.core.executor import Result
from ifupdown_agg.core.objects import Observed, Sysctl
from ifupdown_agg.core.ops import Action, Op
from ifupdown_agg.errors import ApplyError

Planner = Callable[[Observed, List[Op]], List[Op]]


@dataclass
class Outcome:
    ops: List[Op]            # what was planned
    result: Result
    made: List[Op]           # the record as it stands after the run


def up(key: str, kernel, executor, plan: Planner) -> Outcome:
    """Plan against the record and the kernel, run all or nothing, record what was done.

    The record is written ahead: before the run it already holds every add and set
    planned (a set with the value it replaces), so a run killed half way (SIGKILL,
    power) still leaves ifdown a record to undo from; down skips what is not there
    and restoring a value not yet changed changes nothing. After the run the record
    is the truth again: what was applied, or the old record when all was undone."""
    made = record.load(key)
    ops = plan(kernel.observe(), made)
    ahead = [op for op in ops if op.action is not Action.DEL]
    if executor.changes_kernel and ahead:
        record.save(key, record.merge(made, ahead))
    try:
        result = executor.run(ops)
    except ApplyError as err:
        if "could not undo" not in str(err):   # all undone: the old record is the truth
            _save(key, made)
        raise
    after = made
    if result.changed_kernel and result.applied:
        after = record.merge(made, result.applied)
    if executor.changes_kernel and (ahead or result.applied):
        _save(key, after)
    return Outcome(ops, result, after)


def _save(key: str, made: List[Op]) -> None:
    if made:
        record.save(key, made)
    else:
        record.remove(key)


def up_records(kernel, executor, plan: Callable[[Observed], List[Op]],
               split: Callable[[Observed, List[Op]], Dict[str, List[Op]]]) -> Outcome:
    """Up for a stanza whose changes go into more than one record (a port that makes
    its bond: the bond's record holds the bond, the port's its joining). `split` says
    which record keeps which applied op, by key; each is loaded and saved once. The
    plan needs no record (the kernel says what is there), and the keys may be known
    only once it is made."""
    obs = kernel.observe()
    ops = plan(obs)
    result = executor.run(ops)
    after: List[Op] = []
    if result.changed_kernel and result.applied:
        for key, mine in split(obs, result.applied).items():
            if mine:
                merged = record.merge(record.load(key), mine)
                record.save(key, merged)
                after.extend(merged)
    return Outcome(ops, result, after)


CONF = "net/ipv4/conf/"


def _users(path: str, made: List[Op]) -> bool:
    """Does a record rely on the sysctl at `path`: it set it too, or it holds an object on
    that path's device (a route through a NIC whose rp_filter it is)?"""
    dev = path[len(CONF):].split("/")[0] if path.startswith(CONF) else None
    return any(op.obj.key() == ("sysctl", path) or
               (dev is not None and getattr(op.obj, "dev", None) == dev) for op in made
               if op.action is not Action.DEL)


def _hand_over_shared(key: str, ops: List[Op]) -> List[Op]:
    """A value two stanzas rely on (rp_filter of a NIC both overlays use) is restored only
    when the last of them goes: while another record relies on it, the restore is not
    run but handed over to that record, which restores the old value at its own down."""
    others = {k: record.load(k) for k in record.keys() if k != key}
    out = []
    for op in ops:
        heir = None
        if op.action is Action.SET and isinstance(op.obj, Sysctl) and op.old is not None:
            heir = next((k for k, made in others.items() if _users(op.obj.path, made)), None)
        if heir is None:
            out.append(op)
            continue
        # op restores op.obj over op.old (the value now): the heir restores it later.
        others[heir] = record.merge(others[heir], [Op(Action.SET, op.old, op.obj)])
        record.save(heir, others[heir])
    return out


def down(key: str, kernel, executor, plan: Planner, keep=lambda op: False) -> Outcome:
    """Undo the record as far as the kernel allows. `keep` picks record entries that
    stay on purpose (a device left for post-down)."""
    made = record.load(key)
    ops = plan(kernel.observe(), made)
    if executor.changes_kernel:
        ops = _hand_over_shared(key, ops)
    result = executor.run(ops, rollback=False)
    if not result.changed_kernel:
        return Outcome(ops, result, made)
    failed = set(result.failed)
    after = [op for op in made if keep(op) or op.inverse() in failed]
    if after:
        record.save(key, after)
    else:
        record.remove(key)
    if result.errors:
        raise ApplyError("could not remove: " + "; ".join(result.errors))
    return Outcome(ops, result, after)

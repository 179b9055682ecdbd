"""Routes the kernel dropped under the link monitor, put back."""

from __future__ import annotations

import logging

from ifupdown_agg.core.objects import Route
from ifupdown_agg.errors import AggError
from ifupdown_agg.overlay import plan

log = logging.getLogger("ifupdown-agg")


def repair_routes(mon) -> None:
    """Put back the routes of `mon`'s stanza (a daemon.Monitor) that the kernel
    dropped: taking a NIC down deletes every route through it, and bringing it up
    again restores only its own subnet's. Called when a NIC's carrier comes back."""
    from ifupdown_agg.core.executor import RealExecutor
    try:
        with mon.locked("route repair"):
            ops, _ = plan.plan_up(mon.cfg, mon.kernel.observe())
            missing = [op for op in ops if op.action == "add" and isinstance(op.obj, Route)]
            RealExecutor(mon.kernel).run(missing)
    except AggError as err:
        log.error("%s: cannot restore the routes: %s", mon.name, err)
        return
    for op in missing:
        log.warning("%s: restored %s", mon.name, op.describe())

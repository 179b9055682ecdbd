"""What a member NIC's return brings: routes the kernel dropped under the link
monitor, put back, and a link that came back at another rate, followed."""

from __future__ import annotations

import logging

from ifupdown_agg.core.objects import Route
from ifupdown_agg.errors import AggError
from ifupdown_agg.monitor.capacity import member_rates
from ifupdown_agg.overlay import plan

log = logging.getLogger("ifupdown-agg")


def link_back(mon) -> None:
    """A NIC of `mon`'s stanza (a daemon.Monitor) has carrier again. Taking a NIC
    down deletes every route through it, and bringing it up again restores only its
    own subnet's: put back the others. One look at the kernel serves follow_rates too."""
    from ifupdown_agg.core.executor import RealExecutor
    try:
        with mon.locked("route repair"):
            obs = mon.kernel.observe()
            ops, _ = plan.plan_up(mon.cfg, obs)
            missing = [op for op in ops if op.action == "add" and isinstance(op.obj, Route)]
            RealExecutor(mon.kernel).run(missing)
    except AggError as err:
        log.error("%s: cannot restore the routes: %s", mon.name, err)
        return
    for op in missing:
        log.warning("%s: restored %s", mon.name, op.describe())
    follow_rates(mon, obs)


def follow_rates(mon, obs) -> None:
    """The NIC may have come back at another speed (a 2.5G USB adapter renegotiated
    to 1G on a poor cable): the capacity controller then takes the new base weights
    and reads its signals against the new rate at once, where it would otherwise cut
    the path as if other traffic filled it, until the monitor restarted."""
    if mon.capacity is None:
        return
    try:
        desired = plan.desired_state(mon.cfg, obs)
    except AggError as err:
        log.error("%s: cannot read the links' rates again: %s", mon.name, err)
        return
    moved = mon.capacity.rebase(desired.members, member_rates(desired.members, obs),
                                mon.tracker.paths)
    for line in moved:
        log.warning("%s: %s; its paths' base weights follow (`ifagg check` shows what "
                    "else the plan would change, `ifagg up %s` applies it)",
                    mon.name, line, mon.cfg.iface)
    if moved:
        mon.step_owed = True
        mon.write_health()

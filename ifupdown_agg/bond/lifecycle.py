"""Bonds at if-up and if-down: stanza -> plan -> pre-flight -> executor -> record.

Called by the hook at pre-up (create, set, enslave) and post-down (release,
delete), for the bond's stanza and for each port's, each one transaction
(core/transaction.py). What was made is recorded per stanza in /run/ifupdown-agg,
so ifdown undoes exactly that; a bond we created carries the alias
"ifupdown-agg", so a lost record still finds it.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Mapping, Optional

from ifupdown_agg.bond import plan as bond_plan
from ifupdown_agg.config import ifaces_file
from ifupdown_agg.core import transaction
from ifupdown_agg.usb import facts as usbinfo
from ifupdown_agg.kernel import usb as usbread
from ifupdown_agg.bond.preflight import check_ports
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.core.objects import DEVICE_ALIAS, Bond, BondSettings, Enslave, LinkAttrs
from ifupdown_agg.core.ops import Op
from ifupdown_agg.config.schema import RawOption

Say = Callable[[str], None]
IFENSLAVE_HOOK = "/etc/network/if-pre-up.d/ifenslave"


def ifenslave_in_charge(hook: str = IFENSLAVE_HOOK) -> bool:
    """Debian's ifenslave handles bond-* stanzas when its hook is there: we step aside."""
    return os.access(hook, os.X_OK)


def _realtek_usb(ports: List[str]) -> Dict[str, bool]:
    """Which ports are RTL8156/8153 USB adapters (those the r8152 fix is for)."""
    facts, _ = usbread.read_all(ports)
    return {p: (f.vendor_id, f.product_id) in usbinfo.REALTEK_R8152_IDS for p, f in facts.items()}


def _preflight(cfg: bond_plan.BondConfig, mode: Optional[str], ports: List[str], obs, kernel,
               raw: Mapping[str, RawOption], option: str, say: Say, touch: bool) -> None:
    if cfg.preflight == "off" or mode != bond_plan.LACP_MODE or not ports:
        return
    # A dry run reads what it can without raising a port that is down.
    facts = kernel.port_facts(ports, touch=touch)
    others = {n: li.speed for n, li in obs.links.items()
              if li.master == cfg.name and n not in ports}
    problems = check_ports(facts, _realtek_usb(ports), others)
    for problem in problems:
        if cfg.preflight == "strict" and problem.code != "speed-mismatch":
            token = problem.ports[0]
            value = raw.get(option)
            raise ConfigError(f"{problem.message} Refused (bond-preflight strict). "
                              f"Fix: {problem.fix}", iface=cfg.name, option=option, token=token,
                              location=value.locate(token) if value else None)
        say(f"warning: {problem.text(cfg.name)}")


def up(iface: str, raw: Mapping[str, RawOption], kernel, executor, say: Say,
       interfaces: str = "/etc/network/interfaces") -> List[Op]:
    """pre-up of a bond's stanza or a port's."""
    bond: List[str] = []        # the bond's name: the plan says it (a port names its bond)

    def planner(obs) -> List[Op]:
        plan, cfg, mode = bond_plan.plan_stanza(iface, raw, obs,
                                                lambda m: _stanza(m, interfaces), interfaces)
        for warning in cfg.ignored:
            say(f"{iface}: warning: {warning}")
        option = "bond-master" if "bond-master" in raw else "bond-slaves"
        _preflight(cfg, mode, plan.enslaved, obs, kernel, raw, option, say,
                   executor.changes_kernel)
        bond.append(cfg.name)
        return plan.ops

    def split(obs, applied: List[Op]) -> Dict[str, List[Op]]:
        kept = bond_plan.recorded(applied, obs)
        # A port that made its bond records the bond under the bond's name, so the
        # bond's own ifdown deletes it; the port records only its joining.
        mine = [op for op in kept if isinstance(op.obj, Enslave) and op.obj.slave == iface
                and bond[0] != iface]
        records = {bond[0]: [op for op in kept if op not in mine]}
        if mine:
            records[iface] = mine
        return records

    return transaction.up_records(kernel, executor, planner, split).ops


def _stanza(name: str, interfaces: str) -> Optional[Mapping[str, RawOption]]:
    try:
        stanza = ifaces_file.read(interfaces).find(name)
    except (OSError, ConfigError):
        return None
    return stanza.options if stanza else None


# What the bond wing records: the bond, its settings, its ports, the bond's down/up.
BOND_KINDS = (Bond, BondSettings, Enslave, LinkAttrs)


def _ours(op: Op) -> bool:
    """A record entry of the bond wing; a stanza's record may also hold another wing's
    (a USB gadget that is also a bond port), which that wing's own down undoes."""
    return isinstance(op.obj, BOND_KINDS)


def down(iface: str, kernel, executor) -> List[Op]:
    """post-down: undo this stanza's record; without one, delete a bond that carries our alias."""
    def planner(obs, made):
        mine = [op for op in made if _ours(op)]
        return (bond_plan.plan_release(mine, obs, DEVICE_ALIAS) if mine
                else bond_plan.plan_sweep(obs, iface, DEVICE_ALIAS))

    return transaction.down(iface, kernel, executor, planner,
                            keep=lambda op: not _ours(op)).ops

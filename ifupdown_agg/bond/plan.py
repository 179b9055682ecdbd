"""Bonds from ifenslave's options: the typed config and the plan (pure; no kernel I/O).

A stanza is a bond's own (bond-slaves, bond-mode, ...) or a port's (bond-master).
Either may come up first: a port whose bond does not exist yet creates it from
the bond's stanza, and the bond's own ifup then finds it made and changes only
what differs. Values are compared in the kernel's encoding (numbers for named
choices), and the bond is taken down, or its ports released, only for the
attributes the kernel refuses to change otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ifupdown_agg.errors import ConfigError
from ifupdown_agg.core.objects import Bond, BondSettings, Enslave, LinkAttrs, Observed
from ifupdown_agg.core.ops import Op
from ifupdown_agg.bond.options import BOND_TABLE, PORT_OPTIONS
from ifupdown_agg.config.schema import Option, RawOption, Refused, parse_options
from ifupdown_agg.config.types import BOND_MODES

LACP_MODE = "802.3ad"
DEFAULT_MODE = "balance-rr"        # the kernel's


@dataclass(frozen=True)
class BondConfig:
    """One bond, as its own stanza describes it."""

    name: str
    mode: Optional[str]                              # None: leave the kernel's
    slaves: Tuple[str, ...] = ()
    settings: Tuple[Tuple[Option, object], ...] = () # (row, kernel-encoded value)
    preflight: str = "warn"
    ignored: Tuple[str, ...] = ()                    # warnings: options for another mode

    def wants_lacp(self, current_mode: Optional[str] = None) -> bool:
        return (self.mode or current_mode) == LACP_MODE


@dataclass(frozen=True)
class PortConfig:
    """A port's stanza: the bond it joins, and its own bond-preflight if it has one."""

    name: str
    master: str
    preflight: Optional[str] = None


def encode(opt: Option, value: object) -> object:
    """A parsed option value in the kernel's encoding."""
    names = getattr(opt.vtype, "names", None)
    if names is not None and opt.kernel:
        return names.index(value)
    return value


def decode_mode(number: Optional[int]) -> Optional[str]:
    return BOND_MODES[number] if number is not None and 0 <= number < len(BOND_MODES) else None


def _locate(raw: Mapping[str, RawOption], name: str):
    value = raw.get(name)
    return value.location if value else None


def bond_from_options(iface: str, raw: Mapping[str, RawOption]) -> Tuple[Optional[BondConfig],
                                                                         Optional[PortConfig]]:
    """The bond and/or port this stanza describes; ConfigError names the bad token."""
    values = parse_options(iface, raw, BOND_TABLE)
    master = values["bond-master"]
    own = [n for n in raw if n.startswith("bond-") and n not in PORT_OPTIONS]
    if master and own:
        raise ConfigError(f"a port's stanza cannot also configure a bond ({own[0]}); move it "
                          f"to {master}'s stanza", iface=iface, option=own[0],
                          location=_locate(raw, own[0]))
    if master == iface:
        raise ConfigError("a bond cannot be its own port", iface=iface, option="bond-master",
                          token=master, location=_locate(raw, "bond-master"))
    if master:
        own_policy = values["bond-preflight"] if "bond-preflight" in raw else None
        return None, PortConfig(iface, master, own_policy)
    mode = values["bond-mode"]
    settings, ignored = [], []
    for name, opt in BOND_TABLE.items():
        value = values[name]
        if not opt.kernel or opt.kernel == "mode" or value is None or name not in raw:
            continue
        effective = mode or DEFAULT_MODE
        if opt.modes and mode is not None and effective not in opt.modes:
            ignored.append(f"{name} applies to bond-mode {' or '.join(opt.modes)}, not "
                           f"{effective}; ignored")
            continue
        settings.append((opt, encode(opt, value)))
    slaves = values["bond-slaves"] or ()
    if iface in slaves:
        raise ConfigError("a bond cannot be its own port", iface=iface, option="bond-slaves",
                          token=iface, location=_locate(raw, "bond-slaves"))
    return BondConfig(iface, mode, tuple(slaves), tuple(settings), values["bond-preflight"],
                      tuple(ignored)), None


# ---- planning --------------------------------------------------------------------------


@dataclass
class BondPlan:
    ops: List[Op] = field(default_factory=list)
    enslaved: List[str] = field(default_factory=list)   # ports this plan enslaves


def _settings_op(name: str, items: Sequence[Tuple[Option, object]],
                 current: Mapping[str, object], created: bool) -> Optional[Op]:
    if not items:
        return None
    new = BondSettings(name, tuple((o.kernel, v) for o, v in items))
    if created:
        return Op("set", new, None)
    old = BondSettings(name, tuple((o.kernel, current.get(o.kernel)) for o, _ in items))
    return Op("set", new, old)


def _check_names(cfg: BondConfig, obs: Observed, ports: Sequence[str],
                 raw: Mapping[str, RawOption]) -> None:
    """Refuse what no change can fix: the name taken by another kind, or an unusable port."""
    link = obs.links.get(cfg.name)
    if link is not None and link.kind != "bond":
        raise ConfigError(f"{cfg.name} exists and is not a bond (it is a "
                          f"{link.kind or 'plain'} device)", iface=cfg.name)
    for port in ports:
        plink = obs.links.get(port)
        option = "bond-slaves" if port in cfg.slaves else "bond-master"
        if plink is None:
            raise ConfigError(f"no interface {port} (is it plugged in? a USB NIC that appears "
                              f"later can join with 'allow-hotplug {port}' and 'bond-master "
                              f"{cfg.name}' on its own stanza)", iface=cfg.name, option=option,
                              token=port, location=_locate(raw, option))
        if plink.master and plink.master != cfg.name:
            raise ConfigError(f"{port} is already a port of {plink.master}", iface=cfg.name,
                              option=option, token=port, location=_locate(raw, option))
        if plink.kind in ("bond", "bridge"):
            raise ConfigError(f"{port} is a {plink.kind}, not a port", iface=cfg.name,
                              option=option, token=port, location=_locate(raw, option))


def _mode_change_ops(cfg: BondConfig, link, current: Mapping[str, object],
                     slaves_now: Sequence[str]) -> List[Op]:
    """Release every port, then set the new mode (with the bond down if it was up)."""
    ops = [Op("del", Enslave(port, cfg.name)) for port in slaves_now]
    old = BondSettings(cfg.name, (("mode", current.get("mode")),))
    new = BondSettings(cfg.name, (("mode", BOND_MODES.index(cfg.mode)),))
    down = link.up
    if down:
        ops.append(Op("set", LinkAttrs(cfg.name, up=False), LinkAttrs(cfg.name, up=True)))
    ops.append(Op("set", new, old))
    if down:
        ops.append(Op("set", LinkAttrs(cfg.name, up=True), LinkAttrs(cfg.name, up=False)))
    return ops


def _settings_ops(cfg: BondConfig, link, current: Mapping[str, object], created: bool,
                  held: Sequence[str], differ) -> List[Op]:
    """Apply the differing settings, each group in the state the kernel needs it in."""
    noslaves = [(o, v) for o, v in differ if o.kernel_needs == "noslaves"]
    needs_down = [(o, v) for o, v in differ if o.kernel_needs == "down"]
    anytime = [(o, v) for o, v in differ if not o.kernel_needs]
    ops = [Op("del", Enslave(port, cfg.name)) for port in held]
    is_up = bool(link and link.up)
    if is_up and (needs_down or noslaves):
        ops.append(Op("set", LinkAttrs(cfg.name, up=False), LinkAttrs(cfg.name, up=True)))
    for group in (noslaves, needs_down):
        op = _settings_op(cfg.name, group, current, created)
        if op:
            ops.append(op)
    if is_up and (needs_down or noslaves):
        ops.append(Op("set", LinkAttrs(cfg.name, up=True), LinkAttrs(cfg.name, up=False)))
    op = _settings_op(cfg.name, anytime, current, created)
    if op:
        ops.append(op)
    return ops


def plan_bond(cfg: BondConfig, obs: Observed, ports: Sequence[str] = (),
              location: Optional[Mapping[str, RawOption]] = None) -> BondPlan:
    """Make the bond match its config and enslave `ports` (its bond-slaves, or one port).

    Raises ConfigError for what no change can fix: a name taken by another kind of
    device, a port that is missing or already in another bond."""
    _check_names(cfg, obs, ports, location or {})
    plan = BondPlan()
    link = obs.links.get(cfg.name)
    created = link is None
    current: Dict[str, object] = dict(link.bond or {}) if link else {}
    cur_mode = decode_mode(current.get("mode")) if link else None
    slaves_now = sorted(n for n, li in obs.links.items() if li.master == cfg.name)
    ops = plan.ops
    if created:
        ops.append(Op("add", Bond(cfg.name, cfg.mode or cur_mode or DEFAULT_MODE)))
    # Only what differs; attributes the kernel has no value for count as different.
    differ = [(o, v) for o, v in cfg.settings if created or current.get(o.kernel) != v]
    mode_change = not created and cfg.mode is not None and cfg.mode != cur_mode
    if mode_change:
        ops.extend(_mode_change_ops(cfg, link, current, slaves_now))
    noslaves = any(o.kernel_needs == "noslaves" for o, _ in differ)
    held = slaves_now if (noslaves and not mode_change and not created) else []
    ops.extend(_settings_ops(cfg, link, current, created, held, differ))
    rejoin = held + (slaves_now if mode_change else [])
    for port in rejoin:
        ops.append(Op("add", Enslave(port, cfg.name)))
    for port in ports:
        if port not in rejoin and obs.links[port].master != cfg.name:
            ops.append(Op("add", Enslave(port, cfg.name)))
            plan.enslaved.append(port)
    return plan


def plan_stanza(iface: str, raw: Mapping[str, RawOption], obs: Observed,
                master_stanza: Callable[[str], Optional[Mapping[str, RawOption]]],
                source: str = "the interfaces file") -> Tuple[BondPlan, BondConfig, Optional[str]]:
    """The plan for a bond's stanza or a port's, the bond's config it follows, and the mode.

    `master_stanza(name)` returns the options of a bond's own stanza, for a port
    that comes up before its bond."""
    cfg, port = bond_from_options(iface, raw)
    if cfg is not None:
        plan = plan_bond(cfg, obs, cfg.slaves, raw)
        link = obs.links.get(iface)
        mode = cfg.mode or (decode_mode((link.bond or {}).get("mode")) if link else None)
        return plan, cfg, mode or DEFAULT_MODE
    assert port is not None
    master_raw = master_stanza(port.master)
    master_cfg = bond_from_options(port.master, master_raw)[0] if master_raw else None
    link = obs.links.get(port.master)
    if link is None and master_cfg is None:
        value = raw.get("bond-master")
        raise ConfigError(f"no bond {port.master}, and no 'iface {port.master}' stanza in "
                          f"{source} to make it from", iface=iface, option="bond-master",
                          token=port.master, location=value.location if value else None)
    policy = port.preflight or (master_cfg.preflight if master_cfg else "warn")
    if link is None:
        plan = plan_bond(master_cfg, obs, [iface], raw)
    else:
        # The bond is there (made by its own stanza, or by someone else): only join it.
        plan = plan_bond(BondConfig(port.master, None), obs, [iface], raw)
    mode = (master_cfg.mode if master_cfg and master_cfg.mode else
            decode_mode((link.bond or {}).get("mode")) if link else None)
    followed = BondConfig(port.master, mode, preflight=policy,
                          settings=master_cfg.settings if master_cfg else ())
    return plan, followed, mode or DEFAULT_MODE


def plan_release(made: Sequence[Op], obs: Observed, alias_ours: str) -> List[Op]:
    """Undo a bond's or a port's record, newest first, skipping what is gone already.

    Ports are released before their bond goes; a bond we created takes the values
    set on it along, so only a bond someone else made gets its values back."""
    ops: List[Op] = []
    for op in reversed(made):
        undo = op.inverse()
        if undo is None:
            continue        # a value set on a bond we created: nothing to put back
        obj = undo.obj
        if isinstance(obj, Bond):
            link = obs.links.get(obj.name)
            if link is not None and link.kind == "bond" and link.alias == alias_ours:
                ops.append(undo)
        elif isinstance(obj, Enslave):
            link = obs.links.get(obj.slave)
            if link is not None and link.master == obj.master:
                ops.append(undo)
        elif obj.name in obs.links:
            ops.append(undo)
    deleted = {op.obj.name for op in ops if isinstance(op.obj, Bond)}
    ops = [op for op in ops if isinstance(op.obj, (Bond, Enslave)) or op.obj.name not in deleted]
    for name in sorted({op.obj.name for op in ops if isinstance(op.obj, BondSettings)}):
        ops = _bracket(ops, name, obs)
    return ops


# Each bond attribute's kernel name -> when the kernel refuses to change it.
_REFUSED = {o.kernel: o.refused_unless for o in BOND_TABLE.values() if o.kernel}


def _refused(op: Op) -> Refused:
    """The strictest condition among the values a set puts back."""
    needs = {_REFUSED.get(k, Refused.NONE) for k, _ in op.obj.values}
    return next((r for r in (Refused.NOSLAVES, Refused.DOWN) if r in needs), Refused.NONE)


def _bracket(ops: List[Op], name: str, obs: Observed) -> List[Op]:
    """Put back down-only and portless values of bond `name` the way the up planner set
    them: ports released and the bond down around them, then as they were. The record
    does not keep the up plan's bracket (merge folds the down/up pair, and ports that
    rejoined are not recorded), so it is derived again from the kernel's refusal rules
    and the bond as it is now."""
    strict = [op for op in ops if isinstance(op.obj, BondSettings) and op.obj.name == name
              and _refused(op) is not Refused.NONE]
    if not strict:
        return ops
    released = {op.obj.slave for op in ops if isinstance(op.obj, Enslave)
                and op.action == "del" and op.obj.master == name}
    held = [] if all(_refused(op) is not Refused.NOSLAVES for op in strict) else sorted(
        n for n, li in obs.links.items() if li.master == name and n not in released)
    link = obs.links.get(name)
    # A record written before the bracket was derived may hold the up plan's own
    # down/up pair: the bracket below replaces it (bond plans set nothing else on a link).
    ops = [op for op in ops if not (isinstance(op.obj, LinkAttrs) and op.obj.name == name
                                    and op.obj.gso_max_segs is None)]
    block = [Op("del", Enslave(port, name)) for port in held]
    if link is not None and link.up:
        block.append(Op("set", LinkAttrs(name, up=False), LinkAttrs(name, up=True)))
    block.extend(strict)
    if link is not None and link.up:
        block.append(Op("set", LinkAttrs(name, up=True), LinkAttrs(name, up=False)))
    block.extend(Op("add", Enslave(port, name)) for port in held)
    # After the ports this undo releases anyway, so the bond is as empty as it gets.
    rest = [op for op in ops if op not in strict]
    at = max([ops.index(strict[0])] + [i + 1 for i, op in enumerate(rest) if isinstance(
        op.obj, Enslave) and op.action == "del" and op.obj.master == name])
    return rest[:at] + block + rest[at:]


def recorded(applied: Sequence[Op], obs: Observed) -> List[Op]:
    """What of an up plan's applied ops goes into the record: a port the plan released
    (for a change the kernel takes only on a bond without ports) and joined again was
    a port before ifup, so ifdown must leave it in the bond."""
    def rejoined(op: Op) -> bool:
        if not isinstance(op.obj, Enslave):
            return False
        link = obs.links.get(op.obj.slave)
        pair = {o.action.value for o in applied if o.obj == op.obj}
        return link is not None and link.master == op.obj.master and pair == {"add", "del"}
    return [op for op in applied if not rejoined(op)]


def plan_sweep(obs: Observed, name: str, alias_ours: str) -> List[Op]:
    """Without a record: delete the bond if it carries our alias."""
    link = obs.links.get(name)
    if link is not None and link.kind == "bond" and link.alias == alias_ours:
        return [Op("del", Bond(name))]
    return []

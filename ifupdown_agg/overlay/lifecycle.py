"""Bringing an overlay up and down: config -> plan -> executor -> state.

The hook and the CLI both go through here, so `ifup tun0` and `ifagg up tun0`
do the same thing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.monitor import service as monitor
from ifupdown_agg.overlay import learned, plan, teardown
from ifupdown_agg.core import record as state
from ifupdown_agg.core import transaction
from ifupdown_agg.kernel import tun as tundev
from ifupdown_agg.errors import ConfigError, Location, SpreaderError
from ifupdown_agg.core.objects import DEVICE_ALIAS, TunDevice
from ifupdown_agg.core.ops import Op
from ifupdown_agg.overlay.model import OverlayConfig, method_error, overlay_from_options
from ifupdown_agg.config.schema import RawOption


@dataclass
class Loaded:
    cfg: OverlayConfig
    raw: Dict[str, RawOption]


def from_file(iface: str, path: str = "/etc/network/interfaces",
              family: str = "inet") -> Loaded:
    if family == "inet" and iface.endswith(".inet6"):
        iface, family = iface[:-len(".inet6")], "inet6"    # ifagg plan|up|check tun0.inet6
    parsed = ifaces_file.read(path)
    stanza = parsed.find(iface, family)
    if stanza is None:
        known = ", ".join(s.name for s in parsed.stanzas) or "none"
        raise ConfigError(f"no 'iface {iface} {family} ...' stanza (stanzas: {known})",
                          location=Location(path))
    loaded = Loaded(overlay_from_options(iface, stanza.options, family), stanza.options)
    err = method_error(iface, stanza.method, stanza.location)
    if err is not None:
        raise err
    return loaded


def from_raw(iface: str, raw: Mapping[str, RawOption], family: str = "inet") -> Loaded:
    return Loaded(overlay_from_options(iface, raw, family), dict(raw))


def record_key(iface: str, family: str = "inet") -> str:
    """The record of a device's inet overlay is the device's name, its inet6 one's
    tun0.inet6: ifdown of one stanza undoes exactly what that stanza made."""
    return iface if family == "inet" else f"{iface}.{family}"


def split_key(name: str) -> Tuple[str, str]:
    """record_key's inverse: tun0 -> (tun0, inet), tun0.inet6 -> (tun0, inet6)."""
    if name.endswith(".inet6"):
        return name[:-len(".inet6")], "inet6"
    return name, "inet"


def runs_monitor(cfg: OverlayConfig) -> bool:
    # Either family's stanza has a monitor of its own, named by its record (tun0,
    # tun0.inet6); an inet6 one's hellos are IPv6 (monitor/probe.py, version 4).
    return cfg.monitor.enabled


def up(loaded: Loaded, kernel, executor) -> Tuple[List[Op], plan.Desired]:
    """Plan against the kernel and run it; the record of what we made is saved.

    With agg-spread auto, a BPF spreader the kernel refuses (an old kernel, no
    cls_bpf) rolls back like any failure and the overlay comes up with nft; the
    reason is kept in the state directory, so later plans take nft at once."""
    if runs_monitor(loaded.cfg):
        check_probe_key(loaded)
    try:
        return _up(loaded, kernel, executor)
    except SpreaderError as err:
        if loaded.cfg.spread != "auto":
            raise
        from ifupdown_agg.kernel import bpf
        bpf.mark_unusable(str(err))
        print(f"{loaded.cfg.iface}: the BPF spreader cannot be used here ({err}); "
              "spreading with nftables instead", file=sys.stderr)
        return _up(loaded, kernel, executor)


def _up(loaded: Loaded, kernel, executor) -> Tuple[List[Op], plan.Desired]:
    wanted = []

    def planner(obs, made):
        ops, desired = plan.plan_up(loaded.cfg, obs, loaded.raw, made)
        wanted.append(desired)
        return ops

    done = transaction.up(loaded.cfg.key, kernel, executor, planner)
    if done.result.changed_kernel:
        keep_monitor(loaded, restart=bool(done.result.applied))
    return done.ops, wanted[0]


def check_probe_key(loaded: Loaded) -> None:
    """Refuse a key file others can read (or that is malformed) before anything
    changes; without one, warn that the monitor is unauthenticated."""
    from ifupdown_agg.monitor import keys
    raw = loaded.raw.get(keys.OPTION)
    path = loaded.cfg.monitor.key_file
    if keys.load(path, loaded.cfg.iface, raw.location if raw else None,
                 required=raw is not None) is None:
        print(f"ifupdown-agg: {loaded.cfg.iface}: warning: "
              + keys.UNAUTHENTICATED.format(path=path), file=sys.stderr)


# pre-up and post-down only make and remove the device. They need no netlink,
# so they stay clear of pyroute2, whose import is most of a hook's run time.

def create_device(loaded: Loaded) -> None:
    name, key = loaded.cfg.iface, loaded.cfg.key
    if not tundev.exists(name):
        tundev.create(name, DEVICE_ALIAS)
        state.save(key, state.merge(state.load(key), [Op("add", TunDevice(name))]))


def remove_device(iface: str, family: str = "inet") -> None:
    key = record_key(iface, family)
    made = state.load(key)
    recorded = any(op.action == "add" and op.obj == TunDevice(iface) for op in made)
    # Without a record the inet stanza takes an unrecorded device of ours; the inet6 one
    # only the device it made, so it never pulls the device from under an inet overlay.
    unrecorded = not made and family == "inet"
    if (recorded or unrecorded) and tundev.exists(iface) and tundev.alias(iface) == DEVICE_ALIAS:
        tundev.delete(iface)
    state.remove(key)
    monitor.forget_options(key)
    learned.remove(key)


def keep_monitor(loaded: Loaded, restart: bool) -> None:
    """The monitor runs exactly while the overlay is up, with the config it is up with;
    one per stanza, named by its record (tun0, tun0.inet6)."""
    name = loaded.cfg.key
    monitor.save_options(name, loaded.raw)
    if restart or not loaded.cfg.monitor.enabled:
        monitor.stop(name)
    if loaded.cfg.monitor.enabled:
        monitor.start(name)


def down(iface: str, kernel, executor, cfg: Optional[OverlayConfig] = None,
         keep_device: bool = False, family: str = "inet") -> List[Op]:
    """Undo what ifup made; without a record, remove what carries our marks."""
    inet = family == "inet"
    name = record_key(iface, family)
    if executor.changes_kernel:
        monitor.stop(name)      # before the nft table it rewrites goes away

    def planner(obs, made):
        ops = (teardown.plan_down(made, obs) if made
               else teardown.plan_sweep(obs, iface, cfg.tables if cfg else (),
                                        family=4 if inet else 6))
        if keep_device:
            ops = [op for op in ops if not isinstance(op.obj, TunDevice)]
        return ops

    def kept(op):
        return keep_device and isinstance(op.obj, TunDevice)

    done = transaction.down(name, kernel, executor, planner, keep=kept)
    if done.result.changed_kernel and not keep_device:
        monitor.forget_options(name)
        learned.remove(name)        # the hops learned from hellos go with their routes
    return done.ops

"""Validation of a whole interfaces file: each stanza, and the stanzas against each other.

Two overlays that share a table ID (which is also their fwmark) delete each other's
routes and rules; overlapping fake nets route each other's traffic; two monitors
on one probe port each get only some of the hellos; a NIC that is a bond's port
cannot also carry an overlay's table. Each conflict is one located error on the
later stanza that names the earlier one's file:line. Every error of the file is
reported in one run, in file order. Needs nothing of this machine (no NICs, no
root): `ifagg check --syntax` runs it on a laptop or in CI.

Like config/registry.py it sits above the wings, whose option tables and typed
models it reads; the wings never import it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import netaddr

from ifupdown_agg.bond.plan import bond_from_options
from ifupdown_agg.config import ifaces_file
from ifupdown_agg.config.registry import ALL_OPTIONS, groups_of
from ifupdown_agg.config.schema import OWN_PREFIX, parse_options
from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.overlay.model import OverlayConfig, method_error, overlay_from_options
from ifupdown_agg.usb.options import USBNET_TABLE

# Our option names a typo may miss: the ones ifupdown does not own.
OUR_NAMES = sorted(n for n, o in ALL_OPTIONS.items() if o.owner != "ifupdown")
# ifupdown's own inet options, never taken for a near miss of ours.
IFUPDOWN_WORDS = {"address", "netmask", "broadcast", "metric", "gateway", "pointopoint",
                  "hwaddress", "mtu", "scope", "label", "dns-nameservers", "dns-search",
                  "description"}


class Conflict(ConfigError):
    """Two stanzas that cannot both be up; `other` is the earlier one's name."""

    def __init__(self, reason: str, *, other: str, **kw):
        self.other = other
        super().__init__(reason, **kw)


@dataclass
class Report:
    errors: List[ConfigError]
    warnings: List[str]


def near_miss(name: str) -> Optional[str]:
    """Our option that `name` is a typo of, if any (fakenett, rpsec, tabel)."""
    if name in ALL_OPTIONS or name in IFUPDOWN_WORDS or name.startswith(OWN_PREFIX):
        return None
    found = difflib.get_close_matches(name, OUR_NAMES, n=1, cutoff=0.75)
    return found[0] if found else None


def _stanza_line(err: ConfigError, stanza) -> ConfigError:
    """An error without a line (an option missing) points at the stanza's iface line."""
    if err.location is not None and err.location.line:
        return err
    return ConfigError(err.reason, iface=err.iface, option=err.option, token=err.token,
                       location=stanza.location)


def _typos(stanza, ours: bool, report: Report) -> bool:
    """Near misses of our names: errors on a stanza of ours, a warning on another."""
    found = False
    for name, raw in stanza.options.items():
        meant = near_miss(name)
        if meant is None:
            continue
        if ours:
            report.errors.append(ConfigError(f"unknown option; did you mean '{meant}'?",
                                             iface=stanza.name, option=name,
                                             location=raw.location))
            found = True
        else:
            report.warnings.append(f"{raw.location}: {stanza.name}: {name}: not an option; "
                                   f"did you mean '{meant}'? (without it the stanza is not "
                                   "an ifupdown-agg one)")
    return found


def _method(stanza, report: Report) -> bool:
    err = method_error(stanza.name, stanza.method, stanza.location)
    if err is None:
        return True
    report.errors.append(err)
    return False


def _overlay(stanza, report: Report) -> Optional[OverlayConfig]:
    try:
        return overlay_from_options(stanza.name, stanza.options, stanza.family)
    except ConfigError as err:
        report.errors.append(_stanza_line(err, stanza))
        return None


def _other(stanza, groups: List[str], report: Report) -> None:
    try:
        if "bond" in groups:
            bond_from_options(stanza.name, stanza.options)
        if "usbnet" in groups:
            parse_options(stanza.name, stanza.options, USBNET_TABLE)
    except ConfigError as err:
        report.errors.append(_stanza_line(err, stanza))


def validate(path: str) -> Report:
    """Every error of the file at `path`, in file order, and warnings."""
    parsed = ifaces_file.read_all(path)
    report = Report(list(parsed.errors), [])
    overlays: List[Tuple[OverlayConfig, object]] = []
    for stanza in parsed.stanzas:
        groups = groups_of(stanza.options)
        overlay = "overlay" in groups and stanza.family in ("inet", "inet6")
        usable = _method(stanza, report) if overlay else True
        if _typos(stanza, bool(groups), report) or not usable:
            continue        # "fakenet: missing" would only repeat the typo
        if overlay:
            cfg = _overlay(stanza, report)
            if cfg is not None:
                overlays.append((cfg, stanza))
        _other(stanza, groups, report)
    report.errors += conflicts(overlays, parsed)
    report.errors.sort(key=_order(parsed))
    return report


def _order(parsed):
    files = {f: i for i, f in enumerate(parsed.files)}

    def key(err: ConfigError):
        loc = err.location or Location()
        return (files.get(loc.file, len(files)), loc.line or 0)
    return key


def conflicts(overlays, parsed) -> List[ConfigError]:
    """Conflicts between overlay stanzas, and with bond ports; on the later stanza."""
    errors: List[ConfigError] = []
    for i, (cfg, stanza) in enumerate(overlays):
        for other, ostanza in overlays[:i]:
            errors += _pair(cfg, stanza, other, ostanza)
        errors += _member_claims(cfg, stanza, parsed)
    return errors


def _where(stanza, option: str, token: str = "") -> Location:
    raw = stanza.options.get(option)
    if raw is None:
        return stanza.location
    return raw.locate(token) if token else raw.location


def _pair(cfg: OverlayConfig, stanza, other: OverlayConfig, ostanza) -> List[ConfigError]:
    if cfg.iface == other.iface and cfg.family != other.family:
        # One overlay's two families: they share the tables (the kernel keeps an IPv4 and an
        # IPv6 route table of each ID apart, and one fwmark picks the link for both), the
        # member NICs and the monitor.
        return _families(cfg, stanza, other)
    out = []
    for table in sorted(set(cfg.tables) & set(other.tables)):
        out.append(Conflict(
            f"table {table} (also its fwmark) is {other.iface}'s too "
            f"({_where(ostanza, 'table', str(table))}); each overlay needs table IDs of its own, "
            "or bringing one up deletes the other's routes", other=other.iface, iface=cfg.iface, option="table",
            location=_where(stanza, "table", str(table))))
    mine, theirs = netaddr.IPNetwork(cfg.fakenet), netaddr.IPNetwork(other.fakenet)
    if mine in theirs or theirs in mine:
        out.append(Conflict(
            f"{cfg.fakenet} overlaps {other.iface}'s fakenet {other.fakenet} "
            f"({_where(ostanza, 'fakenet')}); give each overlay a fake net of its own",
            other=other.iface, iface=cfg.iface, option="fakenet",
            location=_where(stanza, "fakenet")))
    if cfg.monitor.enabled and other.monitor.enabled and cfg.monitor.port == other.monitor.port:
        out.append(Conflict(
            f"probe port {cfg.monitor.port} is {other.iface}'s too "
            f"({_where(ostanza, 'agg-probe-port')}); two monitors on one port each get only "
            f"some of the hellos: give this overlay another (agg-probe-port "
            f"{cfg.monitor.port + 1})", other=other.iface, iface=cfg.iface, option="agg-probe-port",
            location=_where(stanza, "agg-probe-port")))
    return out


def _families(cfg: OverlayConfig, stanza, other: OverlayConfig) -> List[ConfigError]:
    if cfg.tables == other.tables:
        return []
    return [Conflict(
        f"lists tables {' '.join(map(str, cfg.tables))} but the {other.family} stanza of "
        f"{cfg.iface} lists {' '.join(map(str, other.tables))}; both families of one overlay "
        "use the same tables, one per member link, in the same order", other=other.iface,
        iface=cfg.iface, option="table", location=_where(stanza, "table"))]


def _ports(parsed) -> Dict[str, object]:
    """NIC name -> the bond stanza (or its own bond-master stanza) that claims it."""
    ports: Dict[str, object] = {}
    for stanza in parsed.stanzas:
        slaves = stanza.options.get("bond-slaves")
        for name in (slaves.text.split() if slaves else []):
            if name != "none":
                ports.setdefault(name, stanza)
        if "bond-master" in stanza.options:
            ports.setdefault(stanza.name, stanza)
    return ports


def _member_claims(cfg: OverlayConfig, stanza, parsed) -> List[ConfigError]:
    """A member NIC (the stanza holding this host's hop) that is a bond's port."""
    ports = _ports(parsed)
    by_address = {}
    for nic in parsed.stanzas:
        raw = nic.options.get("address")
        if raw is not None and nic.name != cfg.iface:
            by_address.setdefault(raw.text.split("/")[0], nic)
    by_name = {nic.name: nic for nic in reversed(parsed.stanzas) if nic.name != cfg.iface}
    out = []
    for hop in dict.fromkeys(cfg.me.written(j) for j in range(len(cfg.me.hops))):
        # A link-local hop names its NIC (fe80::10%eth1); any other is found by address.
        nic = by_name.get(hop.partition("%")[2]) if "%" in hop else by_address.get(hop)
        claim = ports.get(nic.name) if nic is not None else None
        if nic is not None and claim is not None:
            bond = (claim.options["bond-master"].text if claim.name == nic.name
                    and "bond-master" in claim.options else claim.name)
            out.append(Conflict(
                f"this host's hop {hop} is on {nic.name} ({nic.location}), a port of "
                f"{bond} ({claim.location}); a bond's port cannot carry an overlay table: "
                "use the bond's address as the hop", other=bond, iface=cfg.iface, option="rspec",
                location=_where(stanza, "rspec", hop)))
    return out


def conflicts_for(iface: str, path: str) -> List[ConfigError]:
    """The conflicts that involve `iface` (for the hook and `ifagg up`); a file that
    does not read is left to the stanza's own errors."""
    try:
        report = validate(path)
    except (OSError, ConfigError):
        return []
    return [e for e in report.errors
            if isinstance(e, Conflict) and iface in (e.iface, e.other)]

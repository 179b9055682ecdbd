"""The JSON that `ifagg ... --json` prints: one object per command, with a version.

Each schema here is a JSON Schema (draft 7); ifagg(8) lists the top-level fields
and tests/test_json_schemas.py validates real outputs against them. A field may be
added without a new version; a field renamed, removed or retyped bumps it.
`status --watch --json` prints one such object per line (JSON Lines).
"""

from __future__ import annotations

import json
import sys
from typing import Dict

VERSION = 1

_INT, _STR, _BOOL, _NUM = {"type": "integer"}, {"type": "string"}, {"type": "boolean"}, {"type": "number"}
_NSTR = {"type": ["string", "null"]}


def _obj(props: Dict, required=None, extra: bool = True) -> Dict:
    return {"type": "object", "properties": props,
            "required": sorted(props) if required is None else required,
            "additionalProperties": extra}


def _version() -> Dict:
    return {"const": VERSION, "description": "the schema's version"}


OP = _obj({"action": {"enum": ["add", "del", "set"]}, "obj": {"type": "object"},
           "old": {"type": ["object", "null"]}})

PLAN = _obj({"version": _version(), "iface": _STR,
             "ops": {"type": "array", "items": OP, "description": "the changes, in order"},
             "describe": {"type": "array", "items": _STR,
                          "description": "each op as an iproute2/nft-like line"},
             "notes": {"type": "array", "items": _STR}})

_LINK = _obj({"table": _INT, "dev": _STR, "local": _STR, "weight": _INT, "rotation_share": _NUM,
              "carried_share": _NUM, "packets": _INT, "bytes": _INT})
_PATH = _obj({"table": _INT, "dev": _STR, "via": _NSTR,
              "health": {"enum": ["up", "down", "unmonitored", "learning"]},
              "since": {"type": ["number", "null"]}, "reason": _STR, "weight": _INT,
              "rotation_share": _NUM, "packets": _INT, "bytes": _INT})
_OVERLAY = _obj({"iface": _STR, "up": _BOOL, "address": _STR, "fakenet": _STR,
                 "spread": {"enum": ["bpf", "nft"], "description": "what spreads the packets"},
                 "tunnel_mtu": {"type": ["integer", "null"],
                                "description": "the largest packet a tunnel over it may send"},
                 "tunnels": {"type": "array", "items": {"type": "object"},
                             "description": "tunnel devices riding on it"},
                 "monitor": _obj({"running": _BOOL, "interval_ms": _INT, "loss": _INT,
                                  "rejoin": _INT,
                                  "idle_interval_ms": {"type": ["integer", "null"],
                                                       "description": "an idle peer's probe interval; "
                                                       "null: every peer at interval_ms"},
                                  "idle_wake": {"enum": ["spreader", "poll", None],
                                                "description": "what ends an idle peer's slow "
                                                "hellos: the spreader's wake-up at its first "
                                                "packet, or the counters read every 100 ms"},
                                  "idle_wakes": {"type": "integer", "description": "how often "
                                                 "the spreader woke the monitor for a slow peer"}}),
                 "links": {"type": "array", "items": _LINK},
                 "peers": {"type": "array", "items": _obj({"peer": _STR, "probed": _BOOL,
                                                           "hellos_ms": {"type": ["integer", "null"],
                                                                         "description": "our probe "
                                                                         "interval to it now"},
                                                           "paths": {"type": "array",
                                                                     "items": _PATH}})},
                 "notes": {"type": "array", "items": _STR}})
STATUS = _obj({"version": _version(), "time": {"type": "number", "description": "Unix time"},
               "overlays": {"type": "array", "items": _OVERLAY}})

_FINDING = _obj({"bond": _NSTR, "severity": {"enum": ["error", "warning", "info"]},
                 "code": _STR, "subject": _STR, "message": _STR, "fix": _STR})
DOCTOR = _obj({"version": _version(), "findings": {"type": "array", "items": _FINDING},
               "pi": {"type": ["object", "null"]}, "usb2_bus_budget_mbps": _INT,
               "nics": {"type": "array", "items": {"type": "object"}}},
              required=["findings", "version"])

_STANZA = _obj({"iface": _STR, "kind": {"enum": ["overlay", "bond", "usb"]}, "in_sync": _BOOL,
                "exit": {"enum": [0, 1, 2, 3]}, "error": _NSTR,
                "ops": {"type": "array", "items": OP,
                        "description": "what `ifagg up` would change, as in plan"},
                "describe": {"type": "array", "items": _STR},
                "details": {"type": "array", "items": _STR},
                "notes": {"type": "array", "items": _STR}})
CHECK = _obj({"version": _version(), "in_sync": _BOOL, "exit": {"enum": [0, 1, 2, 3]},
              "stanzas": {"type": "array", "items": _STANZA},
              "error": _STR, "valid": _BOOL,
              "errors": {"type": "array", "items": _STR},
              "warnings": {"type": "array", "items": _STR}},
             required=["version", "exit"])

SCHEMAS = {"plan": PLAN, "status": STATUS, "doctor": DOCTOR, "check": CHECK}

SUMMARY = {
    "plan": "{version, iface, ops: [{action, obj, old}], describe: [line], notes: [text]}",
    "status": "{version, time, overlays: [{iface, up, address, fakenet, monitor, links: "
              "[{table, dev, weight, rotation_share, carried_share, packets, bytes}], peers: "
              "[{peer, probed, paths: [{table, dev, via, health, since, reason, ...}]}], notes}]}; "
              "with --watch one object per line",
    "check": "{version, in_sync, exit, stanzas: [{iface, kind, in_sync, exit, error, ops, "
             "describe, details, notes}]}; with --syntax {version, exit, valid, errors, warnings}",
    "doctor": "{version, findings: [{bond, severity, code, subject, message, fix}]} and, with "
              "the USB report, pi, usb2_bus_budget_mbps, nics",
}


def main(argv=None) -> int:
    """Print the schemas, for tools that validate ifagg's output."""
    json.dump({"$schema": "http://json-schema.org/draft-07/schema#", "ifagg": SCHEMAS},
              sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

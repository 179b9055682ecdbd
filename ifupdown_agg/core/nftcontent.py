"""What an nft table holds, as text that a listing and the script we load both reduce to.

`ifagg check` compares the table's real contents (`nft list table`), not the digest
we wrote into its comment: a chain flushed or a counter map changed by hand is drift
even though the comment still carries the right digest. The listing differs from
our script only in form: counters print their values, marks print in hex, and
whitespace and blank lines differ. Those are normalised away.

The link monitor rewrites a peer's rotation (`numgen inc mod N map {...}`) when a
path fails, so the rotation's length and order are not compared; each mark it
sets must still be one the desired table uses.
"""

from __future__ import annotations

import re
from typing import FrozenSet, List, Tuple

_COUNTER_VALUES = re.compile(r"\bpackets \d+ bytes \d+")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_ROTATION = re.compile(r"numgen inc mod \d+ map \{([^}]*)\}")
_ROTATION_MARK = "numgen inc mod _ map { _ }"


def _marks(body: str) -> FrozenSet[str]:
    """The values of a rotation map `{ 0 : 10000, 1 : 10001 }`."""
    return frozenset(item.split(":")[-1].strip() for item in body.split(",") if ":" in item)


def contents(listing: str) -> Tuple[str, List[FrozenSet[str]]]:
    """(the table's text in one normal form, the marks of each rotation in order)."""
    text = _COUNTER_VALUES.sub("", listing)
    text = _HEX.sub(lambda m: str(int(m.group(0), 16)), text)
    text = " ".join(text.split())
    rotations = [_marks(m.group(1)) for m in _ROTATION.finditer(text)]
    return _ROTATION.sub(_ROTATION_MARK, text), rotations


def same_contents(listing: str, script: str) -> bool:
    """Does the listed table hold what the script loads (rotations as the monitor may
    have narrowed them)? An empty listing is unknown contents and passes."""
    if not listing.strip():
        return True
    seen, seen_rot = contents(listing)
    want, want_rot = contents(script)
    if seen != want or len(seen_rot) != len(want_rot):
        return False
    return all(s and s <= w for s, w in zip(seen_rot, want_rot))


def differences(listing: str, script: str, limit: int = 3) -> List[str]:
    """A few lines of the script that the listing lacks or holds otherwise (for check)."""
    seen, _ = contents(listing)
    missing = []
    for line in script.splitlines():
        norm, _ = contents(line)
        if norm and norm not in ("{", "}") and norm not in seen:
            missing.append(" ".join(line.split()))
    return missing[:limit]

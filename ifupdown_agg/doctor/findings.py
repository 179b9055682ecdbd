"""The one Finding type of doctor's bond and USB diagnoses, and its rendering (pure)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import List

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class Finding:
    severity: str     # error, warning or info
    code: str         # stable short id, e.g. half-duplex
    subject: str      # the bond, or the slave(s) concerned
    message: str
    fix: str


def wrap(label: str, text: str) -> List[str]:
    """Wrap a paragraph; lines indented in the text (commands) are kept as they are."""
    lines = []
    for chunk in text.split("\n"):
        if chunk.startswith(" "):
            lines.append("      " + chunk.strip())
        else:
            lines += textwrap.wrap(chunk, 76, break_on_hyphens=False,
                                   initial_indent="    " + label if not lines else "    ",
                                   subsequent_indent="    ")
    return lines


def render(finding: Finding) -> List[str]:
    """The lines of one finding: its head, the message, then the fix."""
    return ([f"  {finding.severity.upper()} {finding.code}: {finding.subject}"]
            + wrap("", finding.message) + wrap("Fix: ", finding.fix))

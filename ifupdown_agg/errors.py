"""Errors that carry where the bad input was, so the user can fix it at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Location:
    """Where an option was written: a file and line, or an ifupdown variable."""

    file: Optional[str] = None
    line: Optional[int] = None
    variable: Optional[str] = None

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        if self.file:
            return self.file
        if self.variable:
            return f"${self.variable}"
        return "<input>"


class AggError(Exception):
    """Base of every error ifupdown-agg reports to the user (exit status 1)."""


class TokenError(ValueError):
    """Raised by a value parser: one token of an option's value is wrong."""

    def __init__(self, token: str, reason: str):
        super().__init__(reason)
        self.token = token
        self.reason = reason


class ConfigError(AggError):
    """Bad configuration, located as precisely as the input allows."""

    def __init__(self, reason: str, *, iface: str = "", option: str = "",
                 token: str = "", location: Optional[Location] = None):
        self.reason = reason
        self.iface = iface
        self.option = option
        self.token = token
        self.location = location
        super().__init__(self.render())

    def render(self) -> str:
        head = [str(self.location)] if self.location else []
        if self.iface:
            head.append(self.iface)
        if self.option:
            head.append(self.option)
        text = ": ".join(head + [self.reason])
        if self.token and f"'{self.token}'" not in self.reason:
            text += f" (token '{self.token}')"
        return text


class ApplyError(AggError):
    """The kernel refused a change; everything done before it was undone."""


class SpreaderError(ApplyError):
    """The BPF spreader could not be loaded, attached or written (old kernel, iproute2
    without libbpf, a missing module): agg-spread auto falls back to nft."""

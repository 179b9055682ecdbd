"""A reader for /etc/network/interfaces, as interfaces(5) defines it.

It keeps the file and line of every option and of every token in an option's
value, so an error can point at the exact place even inside a long rspec
spread over continuation lines.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

from ifupdown_agg.errors import ConfigError, Location
from ifupdown_agg.config.schema import RawOption

# Options ifupdown allows more than once per stanza.
MULTI = {"pre-up", "up", "post-up", "down", "pre-down", "post-down"}
SOURCE_DIR_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
MAX_SOURCE_DEPTH = 16


@dataclass
class Stanza:
    name: str
    family: str
    method: str
    location: Location
    options: Dict[str, RawOption] = field(default_factory=dict)
    commands: List[Tuple[str, str]] = field(default_factory=list)  # (pre-up, "ip ...")


@dataclass
class InterfacesFile:
    stanzas: List[Stanza] = field(default_factory=list)
    auto: List[str] = field(default_factory=list)
    allow: Dict[str, List[str]] = field(default_factory=dict)  # class -> names
    files: List[str] = field(default_factory=list)
    # read_all() keeps every error here, in file order, and reads on; read() raises the first.
    errors: List[ConfigError] = field(default_factory=list)
    collect: bool = False
    dos_files: List[str] = field(default_factory=list)

    def find(self, name: str, family: str = "inet") -> Optional[Stanza]:
        for stanza in self.stanzas:
            if stanza.name == name and stanza.family == family:
                return stanza
        return None


def _logical_lines(path: str) -> Iterator[Tuple[List[Tuple[int, str]], int]]:
    """Yield (pieces, first line): a logical line as (line number, text) pieces."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        pieces: List[Tuple[int, str]] = []
        for number, raw in enumerate(fh, 1):
            text = raw.rstrip("\n")
            if not pieces and text.lstrip().startswith("#"):
                continue
            if text.endswith("\\"):
                pieces.append((number, text[:-1]))
                continue
            pieces.append((number, text))
            yield pieces, pieces[0][0]
            pieces = []
        if pieces:
            yield pieces, pieces[0][0]


def _words_with_lines(pieces: List[Tuple[int, str]]) -> List[Tuple[str, int]]:
    return [(word, number) for number, text in pieces for word in text.split()]


def read(path: str = "/etc/network/interfaces") -> InterfacesFile:
    result = InterfacesFile()
    _read_into(result, path, 0, set())
    return result


def read_all(path: str = "/etc/network/interfaces") -> InterfacesFile:
    """The file as far as it can be read, with every error of its lines in `errors`."""
    result = InterfacesFile(collect=True)
    try:
        _read_into(result, path, 0, set())
    except ConfigError as err:      # the file itself (unreadable, a source loop)
        result.errors.append(err)
    return result


# An option name is a word of letters, digits, '-' and '_'; a first word like
# "10.99.255.20:10.99.0.20" is the rest of the line before, whose '\\' is missing.
_VALUE_LIKE = re.compile(r"^[0-9]|[:/]")


def _expand(pattern: str, base_dir: str) -> List[str]:
    if not os.path.isabs(pattern):
        pattern = os.path.join(base_dir, pattern)
    return sorted(glob.glob(pattern))


def _load(path: str, depth: int, seen: Set[str]) -> Tuple[list, Set[str]]:
    """The file's logical lines, and `seen` with it added; refuses loops and unreadable files."""
    real = os.path.realpath(path)
    if real in seen or depth > MAX_SOURCE_DEPTH:
        raise ConfigError("is sourced in a loop", location=Location(path))
    seen = seen | {real}
    try:
        lines = list(_logical_lines(path))
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", location=Location(path)) from None
    return lines, seen


def _source(result: InterfacesFile, keyword: str, rest: List[str], base_dir: str,
            depth: int, seen: Set[str]) -> None:
    """Read the files a `source` or `source-directory` line names, in order."""
    for pattern in rest:
        for found in _expand(pattern, base_dir):
            if keyword == "source":
                _read_into(result, found, depth + 1, seen)
                continue
            for entry in sorted(os.listdir(found)):
                sub = os.path.join(found, entry)
                if SOURCE_DIR_NAME.match(entry) and os.path.isfile(sub):
                    _read_into(result, sub, depth + 1, seen)


def _add_option(current: Stanza, keyword: str, words: List[Tuple[str, int]],
                where: Location) -> None:
    """Record one option line of a stanza, with the line of each of its tokens."""
    value = " ".join(w for w, _ in words[1:])
    if keyword in MULTI:
        current.commands.append((keyword, value))
        return
    if keyword in current.options:
        raise ConfigError("given twice in this stanza", iface=current.name,
                          option=keyword, location=where)
    token_lines: Dict[str, int] = {}
    for word, number in words[1:]:
        token_lines.setdefault(word, number)
        for part in word.split(":"):
            token_lines.setdefault(part, number)
    current.options[keyword] = RawOption(value, where, token_lines)


def _read_into(result: InterfacesFile, path: str, depth: int, seen: Set[str]) -> None:
    lines, seen = _load(path, depth, seen)
    result.files.append(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    state: list = [None, False]       # the current stanza, in a mapping block
    for pieces, first in lines:
        try:
            _line(result, pieces, Location(path, first), base_dir, depth, seen, state)
        except ConfigError as err:
            if not result.collect:
                raise
            result.errors.append(err)


def _line(result: InterfacesFile, pieces, where: Location, base_dir: str, depth: int,
          seen: Set[str], state: list) -> None:
    """One logical line; `state` is [the current stanza, in a mapping block]."""
    current, in_mapping = state
    for number, text in pieces:
        if text.endswith("\r") and where.file not in result.dos_files:
            result.dos_files.append(where.file)     # said once per file; the line is read on
            err = ConfigError("the line ends in a carriage return (a DOS line end); ifupdown "
                              "refuses such a file: convert it (dos2unix)",
                              location=Location(where.file, number))
            if not result.collect:
                raise err
            result.errors.append(err)
    words = _words_with_lines(pieces)
    if words:
        current, in_mapping = _words(result, words, where, base_dir, depth, seen,
                                     current, in_mapping)
    state[:] = [current, in_mapping]


def _words(result: InterfacesFile, words, where: Location, base_dir: str, depth: int,
           seen: Set[str], current: Optional[Stanza], in_mapping: bool):
    """The keyword of a line and its words: (the current stanza, in a mapping block) after."""
    keyword = words[0][0]
    rest = [w for w, _ in words[1:]]
    if keyword == "iface":
        if len(rest) < 3:
            raise ConfigError("expects 'iface NAME FAMILY METHOD'", location=where)
        current = Stanza(rest[0], rest[1], rest[2], where)
        result.stanzas.append(current)
        in_mapping = False
    elif keyword == "mapping":
        current, in_mapping = None, True
    elif keyword == "auto" or keyword.startswith("allow-"):
        cls = "auto" if keyword == "auto" else keyword[len("allow-"):]
        if cls == "auto":
            result.auto.extend(rest)
        else:
            result.allow.setdefault(cls, []).extend(rest)
        current, in_mapping = None, False
    elif keyword in ("source", "source-directory"):
        _source(result, keyword, rest, base_dir, depth, seen)
        current, in_mapping = None, False
    elif in_mapping:
        pass  # `script` and `map` lines of a mapping block
    elif current is None:
        raise ConfigError(f"option '{keyword}' outside of an iface stanza", location=where)
    elif _VALUE_LIKE.search(keyword):
        raise ConfigError(f"'{keyword}' is not an option name: it looks like more of the "
                          "line before; end that line with '\\' to continue it",
                          iface=current.name, token=keyword, location=where)
    else:
        _add_option(current, keyword, words, where)
    return current, in_mapping


def locate_option(iface: str, option: str, path: str = "/etc/network/interfaces"
                  ) -> Optional[RawOption]:
    """The written form of an option, for error messages from the hook path."""
    try:
        stanza = read(path).find(iface)
    except (ConfigError, OSError):
        return None
    return stanza.options.get(option) if stanza else None

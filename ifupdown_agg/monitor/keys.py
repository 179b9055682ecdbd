"""The cluster secret that signs the monitor's hellos: reading, checking, writing.

The key file (agg-probe-key-file, default /etc/ifupdown-agg/probe.key) is the
same on every host of a cluster and readable by its owner only. One key per
line, `KEYID HEX`: KEYID 1..255 and 32 bytes as 64 hex digits; `#` starts a
comment. Hellos are signed with the first key and accepted with any key of
the file, so a cluster rolls its key without a flap: add the new key as a
second line everywhere, then move it first everywhere, then drop the old one.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from typing import Dict, Optional

from ifupdown_agg.errors import ConfigError, Location

OPTION = "agg-probe-key-file"
DEFAULT_PATH = "/etc/ifupdown-agg/probe.key"
KEY_BYTES = 32
HEADER = ("# ifupdown-agg: the link monitor's cluster key (agg-probe-key-file).\n"
          "# The same file on every host; owner-only (mode 0600). One key per line, KEYID HEX.\n"
          "# Hellos are signed with the first key and accepted with any, so a second\n"
          "# line rolls the key without a flap.\n")
UNAUTHENTICATED = ("the link monitor is unauthenticated: no key file {path}; any host on a "
                   "member link's segment can forge hellos and take paths out of the rotation "
                   "or keep dead ones in (`ifagg keygen` writes a key; copy it to every host)")


@dataclass(frozen=True)
class KeySet:
    """The keys of one key file: the one that signs, and every one that verifies."""

    send_id: int
    keys: Dict[int, bytes]
    path: str = ""

    @property
    def send_key(self) -> bytes:
        return self.keys[self.send_id]


def _error(reason: str, path: str, line: Optional[int] = None, token: str = "",
           iface: str = "", where: Optional[Location] = None) -> ConfigError:
    """A key file error names the key file (and line) and the option that points at it."""
    loc = Location(path, line)
    text = f"{reason}" + (f" (set by {where})" if where and where.file != path else "")
    return ConfigError(text, iface=iface, option=OPTION, token=token, location=loc)


def parse(text: str, path: str, iface: str = "", where: Optional[Location] = None) -> KeySet:
    keys: Dict[int, bytes] = {}
    first = None
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        if len(body) != 2:
            raise _error("a key line is KEYID HEX (two fields)", path, n, iface=iface, where=where)
        kid, hexkey = body
        if not kid.isdigit() or not 1 <= int(kid) <= 255:
            raise _error(f"key id '{kid}' is not a number from 1 to 255", path, n, kid, iface, where)
        try:
            key = bytes.fromhex(hexkey)
        except ValueError:
            raise _error("the key is not hex digits", path, n, iface=iface, where=where) from None
        if len(key) != KEY_BYTES:
            raise _error(f"key {kid} is {len(key)} bytes; a key is {KEY_BYTES} bytes "
                         f"({2 * KEY_BYTES} hex digits, as `ifagg keygen` writes)",
                         path, n, iface=iface, where=where)
        if int(kid) in keys:
            raise _error(f"key id {kid} is listed twice", path, n, kid, iface, where)
        keys[int(kid)] = key
        first = int(kid) if first is None else first
    if first is None:
        raise _error("holds no key", path, iface=iface, where=where)
    return KeySet(first, keys, path)


def load(path: str, iface: str = "", where: Optional[Location] = None,
         required: bool = False) -> Optional[KeySet]:
    """The keys of `path`; None if it does not exist and is not required.
    Refuses a file that is not a regular file, belongs to another user, or that
    group or others may read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY)
    except FileNotFoundError:
        if required:
            raise _error("no such key file (`ifagg keygen` writes one)", path, iface=iface,
                         where=where) from None
        return None
    except OSError as err:
        raise _error(f"cannot read the key file: {err.strerror}", path, iface=iface,
                     where=where) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _error("is not a regular file", path, iface=iface, where=where)
        if st.st_mode & 0o077:
            raise _error(f"group or others may read it (mode {stat.S_IMODE(st.st_mode):04o}); "
                         f"a key others can read signs hellos for anyone: chmod 600 {path}",
                         path, iface=iface, where=where)
        if st.st_uid != os.geteuid():
            raise _error(f"belongs to uid {st.st_uid}, not to the monitor's user "
                         f"(uid {os.geteuid()}): chown it", path, iface=iface, where=where)
        data = fh.read(64 * 1024)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise _error("is not a text key file (KEYID HEX lines)", path, iface=iface,
                     where=where) from None
    return parse(text, path, iface, where)


def generate(path: str, key_id: int = 1, force: bool = False) -> None:
    """Write a fresh key file, mode 0600; refuses to replace one unless forced."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    text = HEADER + f"{key_id} {secrets.token_bytes(KEY_BYTES).hex()}\n"
    if not force and os.path.lexists(path):
        raise ConfigError("exists already; refusing to overwrite a cluster key "
                          "(--force replaces it)", location=Location(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)      # fails if it appeared meanwhile: never overwrites
            os.unlink(tmp)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise

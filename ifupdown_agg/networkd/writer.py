"""Writing a generated Tree under a root: atomically, 0640 root:systemd-network,
and removing files of ours that the new tree no longer has.

"Ours" is decided by name alone (our prefixes in our directories, *.usbnet in
our extras directory, and our units' wants links), so a file an admin put there
under another name is never touched. A `scope` limits a write to some of our
files (`ifagg networkd links`: the .link files only).
"""

from __future__ import annotations

import difflib
import grp
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from ifupdown_agg.errors import AggError

from ifupdown_agg.networkd import (EXTRAS_DIR, FILE_GROUP, FILE_MODE, GADGET_UNIT, LINK_PREFIX,
                                   NETWORK_DIR, PREFIX, UNIT, WANTS_DIR)
from ifupdown_agg.networkd.generate import Tree

UNIT_STEMS = tuple(u.split("@")[0] + "@" for u in (UNIT, GADGET_UNIT))
Scope = Callable[[str], bool]


def everything(rel: str) -> bool:
    return True


def link_files_only(rel: str) -> bool:
    return rel.startswith(NETWORK_DIR + "/") and rel.endswith(".link")


class WriteError(AggError):
    pass


@dataclass
class Changes:
    added: List[str] = field(default_factory=list)
    changed: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    old: Tree = field(default_factory=Tree)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def existing(root: str, prefix: str = PREFIX, scope: Scope = everything) -> Tree:
    """Our files as they are under `root` now."""
    tree = Tree()

    def listdir(rel: str) -> List[str]:
        try:
            return sorted(os.listdir(os.path.join(root, rel)))
        except OSError:
            return []

    for name in listdir(NETWORK_DIR):
        rel = f"{NETWORK_DIR}/{name}"
        full = os.path.join(root, rel)
        if name.startswith(prefix) and name.endswith((".netdev", ".network")):
            tree.files[rel] = _read(full)
            if name.endswith(".netdev"):
                tree.devices[rel] = _netdev_name(tree.files[rel])
        elif name.startswith(LINK_PREFIX) and name.endswith(".link"):
            tree.files[rel] = _read(full)
        elif name.endswith(".network.d") and os.path.isdir(full):
            for sub in listdir(rel):
                if sub.startswith(prefix) and sub.endswith(".conf"):
                    tree.files[f"{rel}/{sub}"] = _read(os.path.join(full, sub))
    for name in listdir(EXTRAS_DIR):
        if (name.startswith(prefix) and name.endswith(".conf")) or name.endswith(".usbnet"):
            tree.files[f"{EXTRAS_DIR}/{name}"] = _read(os.path.join(root, EXTRAS_DIR, name))
    for name in listdir(WANTS_DIR):
        full = os.path.join(root, WANTS_DIR, name)
        if name.startswith(UNIT_STEMS) and os.path.islink(full):
            tree.links[f"{WANTS_DIR}/{name}"] = os.readlink(full)
    return _within(tree, scope)


def _within(tree: Tree, scope: Scope) -> Tree:
    if scope is everything:
        return tree
    return Tree(files={r: t for r, t in tree.files.items() if scope(r)},
                links={r: t for r, t in tree.links.items() if scope(r)},
                devices={r: n for r, n in tree.devices.items() if scope(r)})


def _netdev_name(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "Name":
            return value.strip()
    return ""


def compare(root: str, new: Tree, prefix: str = PREFIX, scope: Scope = everything) -> Changes:
    old = existing(root, prefix, scope)
    new = _within(new, scope)
    ch = Changes(old=old)
    for rel, text in sorted(new.files.items()):
        if rel not in old.files:
            ch.added.append(rel)
        elif old.files[rel] != text or not _mode_ok(os.path.join(root, rel), scope):
            ch.changed.append(rel)
    for rel, target in sorted(new.links.items()):
        if rel not in old.links:
            ch.added.append(rel)
        elif old.links[rel] != target:
            ch.changed.append(rel)
    ch.removed = sorted((set(old.files) - set(new.files)) | (set(old.links) - set(new.links)))
    return ch


def unified_diff(root: str, new: Tree, prefix: str = PREFIX, scope: Scope = everything) -> str:
    """What `write` would change, as a unified diff of the files."""
    ch = compare(root, new, prefix, scope)
    out: List[str] = []
    for rel in ch.added + ch.changed + ch.removed:
        if rel in new.links or rel in ch.old.links:
            before = ch.old.links.get(rel)
            after = new.links.get(rel)
            out.append(f"link /{rel}: {before or '(none)'} -> {after or '(removed)'}\n")
            continue
        before = ch.old.files.get(rel, "")
        after = new.files.get(rel, "")
        if before == after:
            out.append(f"mode/owner /{rel}: to {oct(FILE_MODE)} root:{FILE_GROUP}\n")
            continue
        out += difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                    f"a/{rel}" if rel in ch.old.files else "/dev/null",
                                    f"b/{rel}" if rel in new.files else "/dev/null")
    return "".join(out)


def _group(scope: Scope = everything) -> Optional[int]:
    """systemd-network's gid when we can give files to it (as root), else None.

    Only .link files (scope link_files_only) may do without it: udev reads them as
    root, also on a node that runs ifupdown without systemd-networkd."""
    if os.geteuid() != 0:
        return None     # a packaging build: the package sets owners
    try:
        return grp.getgrnam(FILE_GROUP).gr_gid
    except KeyError:
        if scope is link_files_only:
            return None
        raise WriteError(f"group {FILE_GROUP} does not exist: is systemd installed?") from None


def _mode_ok(path: str, scope: Scope = everything) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    gid = _group(scope)
    return (st.st_mode & 0o7777) == FILE_MODE and (gid is None or (st.st_uid, st.st_gid) == (0, gid))


def _atomic_write(path: str, text: str, gid: Optional[int]) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ifagg-")
    try:
        # Mode and owner before the content, so no reader ever sees it wider.
        os.fchmod(fd, FILE_MODE)
        if gid is not None:
            os.fchown(fd, 0, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _atomic_link(path: str, target: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = os.path.join(directory, f".ifagg-{os.getpid()}-{os.path.basename(path)}")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, path)


def write(root: str, new: Tree, prefix: str = PREFIX, scope: Scope = everything) -> Changes:
    ch = compare(root, new, prefix, scope)
    gid = _group(scope)
    try:
        for rel in ch.added + ch.changed:
            full = os.path.join(root, rel)
            if rel in new.links:
                _atomic_link(full, new.links[rel])
            else:
                _atomic_write(full, new.files[rel], gid)
        for rel in ch.removed:
            os.unlink(os.path.join(root, rel))
            parent = os.path.dirname(os.path.join(root, rel))
            if parent.endswith(".network.d") and not os.listdir(parent):
                os.rmdir(parent)        # a drop-in directory only we used
    except OSError as err:
        raise WriteError(f"cannot write {err.filename or root}: {err.strerror}") from None
    return ch

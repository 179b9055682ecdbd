"""Golden files for the networkd generator: every case's exact set of files and their exact text.

A case is a folder in tests/networkd/ with input/interfaces or input/networkd.conf
(and optionally args.json), and either expected/ (the tree written below the
root), expected-links.txt and expected-notes.txt, or expected-error.txt.
Set IFAGG_REGEN_GOLDEN=1 to rewrite them on purpose, then review the diff.
"""

import grp
import json
import os
import shutil
import stat

import pytest

from conftest import REGEN
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.networkd import generate, sources, writer

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "networkd")
CASES = sorted(d for d in os.listdir(CASES_DIR) if os.path.isdir(os.path.join(CASES_DIR, d)))


def build(case_dir, root, monkeypatch):
    """Generate a case into `root`; the header names the input as given (relative)."""
    monkeypatch.chdir(os.path.join(case_dir, "input"))
    args = {}
    if os.path.exists(os.path.join(case_dir, "args.json")):
        with open(os.path.join(case_dir, "args.json")) as fh:
            args = json.load(fh)
    srcs = (sources.from_native("networkd.conf") if os.path.exists("networkd.conf")
            else sources.from_interfaces("interfaces"))
    tree = generate.generate(srcs, args.get("networkd_version"), root=str(root))
    writer.write(str(root), tree)
    return tree


def snapshot(root):
    files, links = {}, {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                links[rel] = os.readlink(full)
            else:
                with open(full) as fh:
                    files[rel] = fh.read()
    return files, links


def check_text(path, got):
    if REGEN:
        with open(path, "w") as fh:
            fh.write(got)
        return
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing; run with IFAGG_REGEN_GOLDEN=1 to create it")
    with open(path) as fh:
        assert got == fh.read(), path


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path, monkeypatch):
    case_dir = os.path.join(CASES_DIR, case)
    root = tmp_path / "root"
    err_file = os.path.join(case_dir, "expected-error.txt")
    if case.startswith("error-"):
        with pytest.raises(ConfigError) as err:
            build(case_dir, root, monkeypatch)
        check_text(err_file, str(err.value) + "\n")
        assert not root.exists() or snapshot(root) == ({}, {})
        return
    tree = build(case_dir, root, monkeypatch)
    files, links = snapshot(root)
    expected = os.path.join(case_dir, "expected")
    if REGEN:
        shutil.rmtree(expected, ignore_errors=True)
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(expected, rel)), exist_ok=True)
            with open(os.path.join(expected, rel), "w") as fh:
                fh.write(text)
    want_files, _ = snapshot(expected)
    assert sorted(files) == sorted(want_files)
    for rel in files:
        assert files[rel] == want_files[rel], rel
    check_text(os.path.join(case_dir, "expected-links.txt"),
               "".join(f"/{rel} -> {target}\n" for rel, target in sorted(links.items())))
    check_text(os.path.join(case_dir, "expected-notes.txt"),
               "".join(f"{note}\n" for note in tree.notes))
    # Every file is 0640, and root:systemd-network when written as root.
    for rel in files:
        st = os.stat(root / rel)
        assert stat.S_IMODE(st.st_mode) == 0o640, rel
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (0, grp.getgrnam("systemd-network").gr_gid), rel

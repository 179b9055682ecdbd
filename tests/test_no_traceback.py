"""No traceback reaches a user (issue #13 item 7): every failure of a command is one line
naming what failed; Ctrl-C is exit 130, quietly; a python3 without our dependencies gets
one line naming the Debian packages. Unprivileged."""

import os
import subprocess
import sys

import pytest

from ifupdown_agg.cli import main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _raising(exc):
    def run(args):
        raise exc
    return run


@pytest.mark.parametrize("exc,code,text", [
    (KeyboardInterrupt(), 130, ""),
    (RuntimeError("boom"), 1, "ifagg: internal error in 'options' (RuntimeError: boom)"),
    (ModuleNotFoundError("No module named 'pyroute2'", name="pyroute2"), 1,
     "ifagg: this Python ("),
    (FileNotFoundError(2, "No such file or directory", "/run/x"), 1,
     "ifagg: No such file or directory: /run/x"),
])
def test_a_failure_is_one_line(monkeypatch, capsys, exc, code, text):
    monkeypatch.setattr(cli.COMMANDS["options"], "run", _raising(exc))
    assert cli.main(["options"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == (1 if text else 0)
    assert err.startswith(text)
    if isinstance(exc, ImportError):
        assert "python3-pyroute2" in err


def test_a_python_without_the_dependencies_gets_one_line(tmp_path):
    """`python3 -S` has no dist-packages: no netaddr, no pyroute2."""
    path = tmp_path / "interfaces"
    path.write_text("iface tun0 inet static\n    address 10.99.255.10\n")
    for args in (["--help"], ["check", "--syntax", "-i", str(path)], ["status"]):
        res = subprocess.run([sys.executable, "-S", "-m", "ifupdown_agg"] + args, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert "Traceback" not in res.stderr, (args, res.stderr)
        assert res.returncode == 0 or (len(res.stderr.splitlines()) == 1
                                       and "python3-" in res.stderr), res.stderr

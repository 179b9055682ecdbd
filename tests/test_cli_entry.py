"""How ifagg starts: from a checkout, alone, and on a python3 without the Debian
packages (one line naming the package, no traceback)."""

import os
import subprocess
import sys

from ifupdown_agg.cli import main as cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code_or_args, hide=()):
    """Run a Python from the checkout; HIDE are modules it pretends not to have."""
    hiding = "".join(f"sys.modules[{m!r}] = None; " for m in hide)
    boot = (f"import sys, runpy; {hiding}sys.argv = sys.argv[1:]; "
            "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")
    return subprocess.run([sys.executable, "-c", boot] + code_or_args, capture_output=True,
                          text=True, cwd=REPO, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_ifagg_alone_prints_the_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ifagg") and "try" in out and "examples:" in out


def test_help_from_a_checkout_needs_none_of_the_dependencies():
    res = python(["ifupdown_agg", "--help"], hide=("pyroute2", "netaddr", "nftables"))
    assert res.returncode == 0 and res.stdout.startswith("usage: ifagg"), res.stderr


def test_a_missing_dependency_is_one_line_naming_the_debian_package():
    res = python(["ifupdown_agg", "plan", "-i", "/dev/null", "tun0"], hide=("netaddr",))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    (line,) = res.stderr.splitlines()
    assert "no module 'netaddr'" in line and "python3-netaddr" in line


def test_the_networkd_generator_runs_from_a_checkout():
    res = python(["ifupdown_agg.networkd", "--help"])
    assert res.returncode == 0 and "generate" in res.stdout and "post-apply" in res.stdout
    res = python(["ifupdown_agg.networkd"])
    assert res.returncode == 2 and "ACTION" in res.stderr
    res = python(["ifupdown_agg.networkd.cli", "--help"])
    assert res.returncode == 0 and "generate" in res.stdout


def test_the_help_and_the_man_page_have_no_sudo():
    from ifupdown_agg.cli import manpage
    assert "sudo" not in cli.build_parser().format_help()
    assert "sudo" not in manpage.section8() and "sudo" not in manpage.section5()

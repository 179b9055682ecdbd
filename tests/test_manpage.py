"""The man pages come from the option table and the parser: nothing can be missing."""

import shutil
import subprocess

import pytest

from ifupdown_agg.cli import manpage
from ifupdown_agg.cli.main import COMMANDS
from ifupdown_agg.overlay.options import OPTIONS


def test_section5_documents_every_option():
    page = manpage.section5()
    for name, opt in OPTIONS.items():
        assert f"\\fB{manpage.esc(name)}\\fR" in page
        assert manpage.esc(opt.example) in page


def test_section8_documents_every_command():
    page = manpage.section8()
    for name in COMMANDS:
        assert f"\\fB{name}\\fR" in page


@pytest.mark.skipif(not shutil.which("man"), reason="needs man-db")
@pytest.mark.parametrize("section", ["5", "8"])
def test_pages_render_without_warnings(tmp_path, section):
    path = tmp_path / f"page.{section}"
    path.write_text(manpage.section5() if section == "5" else manpage.section8())
    res = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True, text=True,
                         env={"LC_ALL": "C.UTF-8", "MANWIDTH": "80", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stderr == "", res.stderr


def _text(section):
    """The page as man renders it, or the roff source where man-db is missing."""
    page = manpage.section5() if section == "5" else manpage.section8()
    if not shutil.which("man"):
        return page
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=f".{section}") as fh:
        fh.write(page)
        fh.flush()
        return subprocess.run(["man", "-l", fh.name], capture_output=True, text=True,
                              env={"LC_ALL": "C", "MANWIDTH": "200", "PATH": "/usr/bin:/bin",
                                   "MAN_KEEP_FORMATTING": ""}).stdout


def test_section8_has_the_sections_a_user_looks_for_and_no_developer_text():
    text = _text("8")
    for heading in ("SYNOPSIS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert f"\n{heading}\n" in text, heading
    for word in ("IFACE", "PHASE", "ADDRFAM", "IF_*", "VERBOSITY", "IFUPDOWN_AGG_STATE_DIR",
                 "ifupdown-agg-monitor@.service", "60-ifupdown-agg.rules", ".link",
                 "/etc/ifupdown-agg", "ip-rule(8)", "systemd.netdev(5)", "systemd.network(5)",
                 "bond-mode 802.3ad", "usbnet-gadget ncm", "-i, --interfaces FILE",
                 "--timeout S", "ifagg try", "ifagg reload"):
        assert word in text, word
    assert "==SUPPRESS==" not in text and "examples:" not in text
    assert "diagnose() is pure" not in text and "--sysfs-root" not in text


def test_doctor_help_is_for_users():
    from ifupdown_agg.cli.main import build_parser
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices
               and "doctor" in a.choices)
    text = sub.choices["doctor"].format_help()
    assert "diagnose() is pure" not in text and "half- or unknown-duplex" in text


@pytest.mark.skipif(not shutil.which("lexgrog"), reason="needs man-db")
@pytest.mark.parametrize("section", ["5", "8"])
def test_lexgrog_reads_the_name_line(tmp_path, section):
    path = tmp_path / f"page.{section}"
    path.write_text(manpage.section5() if section == "5" else manpage.section8())
    res = subprocess.run(["lexgrog", str(path)], capture_output=True, text=True)
    assert res.returncode == 0 and " - " in res.stdout, res.stdout + res.stderr

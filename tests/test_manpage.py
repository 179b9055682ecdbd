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

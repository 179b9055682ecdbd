"""Validation of a whole file (config/across.py) and `ifagg check --syntax` (issue #13
items 4 and 5): conflicts between stanzas name both stanzas' file:line, every error of a
file comes in one run in file order, near misses get "did you mean". Unprivileged."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from ifupdown_agg.cli.main import main
from ifupdown_agg.config import across

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OVERLAY = """\
iface {name} inet static
    address {addr}.1
    netmask 255.255.255.255
    fakenet {addr}.0/24
    table {tables}
    rspec {addr}.1:198.18.70.1:198.18.71.1 {addr}.2:198.18.70.2:198.18.71.2
{extra}"""

NICS = """\
iface eth0 inet static
    address 198.18.70.1/24
iface eth1 inet static
    address 198.18.71.1/24
"""


def overlay(name, addr, tables, extra=""):
    return OVERLAY.format(name=name, addr=addr, tables=tables, extra=extra)


def write(tmp_path, text, name="interfaces"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def errors(path):
    return [str(e) for e in across.validate(path).errors]


def test_a_valid_file_has_no_errors(tmp_path):
    path = write(tmp_path, NICS + overlay("tun7", "198.19.7", "17000 17001") +
                 overlay("tun8", "198.19.8", "18000 18001", "    agg-probe-port 7432\n"))
    assert errors(path) == []


def test_shared_table_names_both_stanzas(tmp_path):
    path = write(tmp_path, overlay("tun7", "198.19.7", "17000 17001") +
                 overlay("tun8", "198.19.8", "18000 17001", "    agg-monitor off\n"))
    [err] = errors(path)
    assert err.startswith(f"{path}:11: tun8: table: table 17001 (also its fwmark) is tun7's too "
                          f"({path}:5)")


def test_overlapping_fakenets_and_one_probe_port(tmp_path):
    wide = overlay("tun7", "198.19.7", "17000 17001")
    narrow = (overlay("tun8", "198.19.7", "18000 18001").replace("198.19.7.1", "198.19.7.129")
              .replace("198.19.7.2:", "198.19.7.130:").replace("198.19.7.0/24", "198.19.7.128/25"))
    path = write(tmp_path, wide + narrow)
    found = errors(path)
    assert any("tun8: agg-probe-port: probe port 7431 is tun7's too" in e for e in found), found
    assert any("tun8: fakenet: 198.19.7.128/25 overlaps tun7's fakenet 198.19.7.0/24" in e
               for e in found), found


def test_a_bond_port_cannot_be_an_overlay_member(tmp_path):
    text = ("iface eth0 inet static\n    address 198.18.70.1/24\n    bond-master bond0\n"
            "iface bond0 inet manual\n    bond-slaves none\n" + overlay("tun7", "198.19.7", "1 2"))
    path = write(tmp_path, text)
    [err] = errors(path)
    assert "tun7: rspec: this host's hop 198.18.70.1 is on eth0" in err and "port of bond0" in err
    assert f"({path}:1)" in err


def test_every_error_of_a_file_in_one_run_in_file_order(tmp_path):
    text = (overlay("tun7", "198.19.7", "17000 x") + "iface tun9 inet dhcp\n    fakenet 1.2.3.0/24\n"
            + overlay("tun8", "198.19.8", "18000", "    fakenett 1.2.3.0/24\n    tabel 5\n")
            + "option-outside 1\n")
    path = write(tmp_path, text)
    found = errors(path)
    lines = [int(e.split(":")[1]) for e in found]
    assert lines == sorted(lines) and len(found) >= 4, found
    assert any("tun7: table" in e and "'x'" in e for e in found)
    assert any("'inet dhcp' cannot carry an overlay" in e for e in found)
    assert any("fakenett: unknown option; did you mean 'fakenet'?" in e for e in found)
    assert any("tabel: unknown option; did you mean 'table'?" in e for e in found)


@pytest.mark.parametrize("typo,meant", [("fakenett", "fakenet"), ("rpsec", "rspec"),
                                        ("tabel", "table"), ("agg-weight", None)])
def test_near_misses(typo, meant):
    assert across.near_miss(typo) == meant
    assert across.near_miss("address") is None and across.near_miss("gateway") is None


def test_near_misses_on_a_stanza_with_no_option_of_ours_warn(tmp_path):
    path = write(tmp_path, "iface tun0 inet static\n    address 10.99.255.10\n"
                 "    rpsec 10.99.255.10:10.0.0.1\n    fakenett 10.99.255.0/24\n")
    report = across.validate(path)
    assert report.errors == []
    assert [w.split(": ")[2] for w in report.warnings] == ["rpsec", "fakenett"]


def test_crlf_and_a_missing_backslash_are_located(tmp_path):
    path = write(tmp_path, "iface tun0 inet static\r\n    address 10.99.255.10\r\n")
    assert errors(path)[0].startswith(f"{path}:1: the line ends in a carriage return")
    text = overlay("tun7", "198.19.7", "1 2").replace(" 198.19.7.2:", "\n    198.19.7.2:")
    path = write(tmp_path, text)
    [err] = errors(path)
    assert err.startswith(f"{path}:7: tun7: '198.19.7.2:198.18.70.2:198.18.71.2' is not an "
                          "option name") and "end that line with '\\'" in err


def test_check_syntax_as_a_command(tmp_path, capsys):
    good = write(tmp_path, NICS + overlay("tun7", "198.19.7", "17000 17001"), "good")
    assert main(["check", "--syntax", "-i", good]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: valid"
    bad = write(tmp_path, overlay("tun7", "198.19.7", "1") + overlay("tun8", "198.19.8", "1"),
                "bad")
    assert main(["check", "--syntax", "--json", "-i", bad]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["exit"] == 2 and len(data["errors"]) == 2 and not data["valid"]
    jsonschema = pytest.importorskip("jsonschema")
    from ifupdown_agg.cli import schemas
    jsonschema.validate(data, schemas.SCHEMAS["check"])


def test_check_syntax_needs_no_root_and_no_kernel():
    """As the nobody user when run as root (CI is root)."""
    tmp = tempfile.mkdtemp(prefix="ifagg-syntax-")
    try:
        os.chmod(tmp, 0o755)
        path = write(pathlib.Path(tmp), overlay("tun7", "198.19.7", "1 2"))
        os.chmod(path, 0o644)
        cmd = [sys.executable, "-m", "ifupdown_agg", "check", "--syntax", "-i", path]
        if os.geteuid() == 0:
            nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            probe = subprocess.run(nobody + [sys.executable, "-c", "import ifupdown_agg"],
                                   capture_output=True, timeout=60, cwd=ROOT)
            if probe.returncode:
                pytest.skip("the checkout is not readable by nobody")
            cmd = nobody + cmd
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    finally:
        shutil.rmtree(tmp)


def test_conflicts_for_one_stanza(tmp_path):
    path = write(tmp_path, overlay("tun7", "198.19.7", "1 2") +
                 overlay("tun8", "198.19.8", "3 2", "    agg-probe-port 7432\n") +
                 overlay("tun9", "198.19.9", "5 6", "    agg-probe-port 7433\n"))
    assert [e.other for e in across.conflicts_for("tun7", path)] == ["tun7"]
    assert [e.iface for e in across.conflicts_for("tun8", path)] == ["tun8"]
    assert across.conflicts_for("tun9", path) == []
    assert across.conflicts_for("tun9", str(tmp_path / "missing")) == []


@pytest.mark.parametrize("method", ["manual", "dhcp"])
def test_an_overlay_stanza_not_inet_static_is_located_by_check_syntax(tmp_path, capsys, method):
    text = NICS + overlay("tun7", "198.19.7", "17000 17001").replace("inet static",
                                                                     f"inet {method}")
    path = write(tmp_path, text)
    [err] = errors(path)
    assert err.startswith(f"{path}:5: tun7: iface: 'inet {method}' cannot carry an overlay")
    assert err.endswith(f"(token '{method}')")
    assert main(["check", "--syntax", "-i", path]) == 2
    assert f"{path}:5: tun7: iface: 'inet {method}'" in capsys.readouterr().err

"""Every `--json` output is one object with a version, valid against its schema in
ifupdown_agg/cli/schemas.py; `status --watch --json` is one object per line."""

import argparse
import io
import json
import os
import sys

import pytest

jsonschema = pytest.importorskip("jsonschema")

from ifupdown_agg.cli import schemas
from ifupdown_agg.cli.plan import show_plan
from ifupdown_agg.core.objects import Rule, Sysctl
from ifupdown_agg.core.ops import Op
from ifupdown_agg.doctor import report as doctor

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
sys.path.insert(0, HERE)


def valid(name, doc):
    jsonschema.validate(doc, schemas.SCHEMAS[name])
    assert doc["version"] == schemas.VERSION
    return doc


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_the_schemas_are_json_schemas_and_documented(name):
    jsonschema.Draft7Validator.check_schema(schemas.SCHEMAS[name])
    assert name in schemas.SUMMARY
    from ifupdown_agg.cli import manpage
    assert manpage.esc(schemas.SUMMARY[name])[:40] in manpage.section8()


def test_plan(capsys):
    ops = [Op("add", Rule(7000, 17000, 17000)),
           Op("set", Sysctl("net/ipv4/conf/eth1/rp_filter", "2"),
              Sysctl("net/ipv4/conf/eth1/rp_filter", "1"))]
    show_plan(argparse.Namespace(json=True, iface="tun0"), ops, ["a note"])
    doc = valid("plan", json.loads(capsys.readouterr().out))
    assert doc["describe"][0].startswith("ip rule add")


def test_doctor_bonds(capsys):
    doctor.main(["--json", "--proc-file", os.path.join(FIXTURES, "proc-net-bonding-rtl8156-cdc_ncm.txt")])
    assert valid("doctor", json.loads(capsys.readouterr().out))["findings"]


@pytest.mark.parametrize("usb_only", [True, False])
def test_doctor_usb_is_the_same_object_with_the_usb_fields(tmp_path, monkeypatch, capsys, usb_only):
    import importlib.util
    spec = importlib.util.spec_from_file_location("usb_sysfs", os.path.join(FIXTURES, "usb_sysfs.py"))
    usb_sysfs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(usb_sysfs)
    monkeypatch.setattr(doctor, "PROC_BONDING", str(tmp_path / "no-bonding"))
    fs = usb_sysfs.FakeSys(tmp_path)
    usb_sysfs.rtl8156_cdc_ncm(fs, "480")
    doctor.main(["--json"] + (["--usb"] if usb_only else [])
                + ["--sysfs-root", fs.sysfs_root, "--dt-root", fs.dt_root])
    doc = valid("doctor", json.loads(capsys.readouterr().out))
    assert doc["nics"] and doc["findings"] and "usb2_bus_budget_mbps" in doc


def test_status_one_object_and_one_object_per_line_when_watching():
    from ifupdown_agg.overlay import status
    stats = [{"iface": "tun0"}]
    assert json.loads(status.json_text(stats, False))["overlays"] == stats
    text = status.json_text(stats, True) + "\n" + status.json_text(stats, True)
    assert [json.loads(line)["version"] for line in text.splitlines()] == [1, 1]


@pytest.mark.root
def test_status_of_a_real_overlay_validates_watching_or_not():
    from lab.cluster import Lab
    from test_try_reload import stanza
    with Lab("j") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(2):
            lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
        a.write_interfaces(stanza(7))
        plan = a.ifagg("plan", "--json", "tun7").stdout
        valid("plan", json.loads(plan))
        a.ifagg("up", "tun7")
        valid("status", json.loads(a.ifagg("status", "--json").stdout))
        out = a.ifagg("status", "--json", "--watch", "--count", "2", "--interval", "0.1").stdout
        lines = out.splitlines()
        assert len(lines) == 2 and "\033" not in out
        for line in lines:
            assert valid("status", json.loads(line))["overlays"][0]["up"] is True
        a.ifagg("down", "tun7")

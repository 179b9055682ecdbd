"""Bad stanzas: the error names the file, line, interface, option and token."""

import pytest

from ifupdown_agg.overlay import lifecycle as overlay
from ifupdown_agg.errors import ConfigError

GOOD = {
    "address": "10.99.255.10",
    "netmask": "255.255.255.255",
    "fakenet": "10.99.255.0/24",
    "table": "10000 10001",
    "rspec": "10.99.255.10:10.99.0.10:10.99.1.10 10.99.255.20:10.99.0.20:10.99.1.20",
}


def stanza(tmp_path, **changes):
    opts = dict(GOOD)
    opts.update({k.replace("_", "-"): v for k, v in changes.items()})
    lines = ["auto tun0", "iface tun0 inet static"]
    lines += [f"    {k} {v}" for k, v in opts.items() if v is not None]
    path = tmp_path / "interfaces"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def error_for(tmp_path, **changes) -> str:
    path = stanza(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        overlay.from_file("tun0", path)
    return str(err.value).replace(path, "interfaces")


def test_good_stanza_loads(tmp_path):
    cfg = overlay.from_file("tun0", stanza(tmp_path)).cfg
    assert cfg.tables == (10000, 10001) and [p.virt for p in cfg.peers] == ["10.99.255.20"]


@pytest.mark.parametrize("changes,message", [
    (dict(rspec="10.99.255.10:10.99.0.10:10.99.1.x 10.99.255.20:10.99.0.20"),
     "interfaces:7: tun0: rspec: '10.99.1.x' is not an IPv4 address (in rspec entry '10.99.255.10:10.99.0.10:10.99.1.x')"),
    (dict(rspec="10.99.255.10:10.99.0.10:10.99.1.10:10.99.2.10 10.99.255.20:10.99.0.20"),
     "interfaces:7: tun0: rspec: entry for 10.99.255.10 has 3 hops but 'table' lists 2 tables; give at most one hop per table (token '10.99.255.10')"),
    (dict(rspec="10.99.255.11:10.99.0.11 10.99.255.20:10.99.0.20"),
     "interfaces:7: tun0: rspec: has no entry for this host's address 10.99.255.10; add '10.99.255.10:HOP...' (one hop per table)"),
    (dict(address="10.99.254.10"),
     "interfaces:3: tun0: address: '10.99.254.10' is outside fakenet 10.99.255.0/24"),
    (dict(rspec="10.99.255.10:10.99.0.10 10.99.255.20:10.99.0.20 10.99.255.20:10.99.0.21"),
     "interfaces:7: tun0: rspec: virtual address '10.99.255.20' is listed twice"),
    (dict(rspec="10.99.255.10:10.99.0.10 10.99.254.20:10.99.0.20"),
     "interfaces:7: tun0: rspec: virtual address '10.99.254.20' is outside fakenet 10.99.255.0/24"),
    (dict(netmask="255.255.255.0"),
     "interfaces:4: tun0: netmask: must be 255.255.255.255: a wider mask makes the kernel route the fake net itself, hiding the overlay route (token '255.255.255.0')"),
    (dict(agg_weights="1 2 3"),
     "interfaces:8: tun0: agg-weights: gives 3 weights for 2 tables (token '1 2 3')"),
    (dict(fakenet=None),
     "interfaces: tun0: fakenet: missing; the overlay's network (example: fakenet 10.99.255.0/24)"),
    (dict(table="10000 10001 main"),
     "interfaces:6: tun0: table: 'main' is not a routing table ID (1 to 4294967295)"),
])
def test_bad_input_is_located(tmp_path, changes, message):
    assert error_for(tmp_path, **changes) == message


@pytest.mark.parametrize("method", ["manual", "dhcp"])
def test_an_overlay_stanza_is_inet_static(tmp_path, method):
    """`iface tun0 inet dhcp` was accepted (issue #13); manual leaves the /32 to no one."""
    path = stanza(tmp_path)
    with open(path) as fh:
        text = fh.read().replace("inet static", f"inet {method}")
    with open(path, "w") as fh:
        fh.write(text)
    with pytest.raises(ConfigError) as err:
        overlay.from_file("tun0", path)
    assert str(err.value).startswith(f"{path}:2: tun0: iface: 'inet {method}' cannot carry "
                                     "an overlay")
    assert str(err.value).endswith(f"write 'iface tun0 inet static' (token '{method}')")
    assert (err.value.option, err.value.token) == ("iface", method)


@pytest.mark.parametrize("method", ["manual", "dhcp"])
def test_the_hook_refuses_an_overlay_that_is_not_inet_static(tmp_path, monkeypatch, capsys,
                                                             method):
    """ifupdown gives the method in METHOD; pre-up and post-up refuse, located, before
    anything is made; going down is left to the record."""
    from ifupdown_agg.cli import hook
    from ifupdown_agg.config import ifaces_file
    path = stanza(tmp_path)
    with open(path) as fh:
        text = fh.read().replace("inet static", f"inet {method}")
    with open(path, "w") as fh:
        fh.write(text)
    monkeypatch.setattr(hook, "INTERFACES", path)
    monkeypatch.setattr(hook, "_say", lambda msg, priority="": print(priority, msg))
    raw = ifaces_file.read(path).find("tun0").options
    env = {"IFACE": "tun0", "ADDRFAM": "inet", "METHOD": method}
    for phase in ("pre-up", "post-up"):
        assert hook._overlay(hook.Call(env, "tun0", phase, raw, False)) == 1
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"err {path}:2: tun0: iface: 'inet {method}' cannot carry"), line

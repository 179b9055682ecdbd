"""The option table, every row of every wing: examples and defaults parse, help is
prose, the typed networkd and netlink fields are real names, and both readers agree."""

import re

import pytest

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.overlay.options import OPTIONS
from ifupdown_agg.config.schema import RawOption, option_help_lines, parse_options
from ifupdown_agg.config.registry import ALL_OPTIONS, TABLES_BY_GROUP, env_options
from ifupdown_agg.config.schema import GROUP_PREFIX, WING, Carrier, Refused
from ifupdown_agg.config.types import BOND_MODES
from ifupdown_agg.bond.options import PORT_OPTIONS
from ifupdown_agg.usb.options import GADGET_SETTINGS
from ifupdown_agg.errors import Location


ROWS = sorted(ALL_OPTIONS)
SYSTEMD_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")     # [Section] and Key= as systemd spells them


def bond_attributes():
    """The IFLA_BOND_* names pyroute2 knows (its bond linkinfo data map; 0.7.2 and 0.9)."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    nla_map = ifinfmsg.ifinfo.data_map["bond"].nla_map
    names = {part for entry in nla_map for part in (entry if isinstance(entry, tuple) else (entry,))
             if isinstance(part, str) and part.startswith("IFLA_BOND_")}
    assert "IFLA_BOND_MODE" in names
    return names


def test_every_wing_has_rows_and_all_are_tested():
    assert [len(t) for t in TABLES_BY_GROUP.values()] == [22, 27, 9]
    assert len(ROWS) == sum(len(t) for t in TABLES_BY_GROUP.values())


@pytest.mark.parametrize("name", ROWS)
def test_every_example_parses(name):
    opt = ALL_OPTIONS[name]
    assert opt.example, f"{name} has no example"
    opt.vtype.parse(opt.example)


@pytest.mark.parametrize("name", ROWS)
def test_every_default_parses_and_every_option_is_documented(name):
    opt = ALL_OPTIONS[name]
    if opt.default is not None:
        opt.vtype.parse(opt.default)
    # A sentence: it opens with a capital, a number, or a name (a bond mode, ours).
    first = opt.help.split()[0].rstrip(":,")
    assert opt.help[0].isupper() or first[0].isdigit() or first in BOND_MODES + ("ifupdown-agg's",)
    assert opt.help.endswith(".") and "  " not in opt.help and len(opt.help.split()) >= 5
    assert opt.networkd and opt.vtype.metavar
    assert opt.env == "IF_" + name.upper().replace("-", "_")


@pytest.mark.parametrize("name", ROWS)
def test_every_row_sits_in_its_wing(name):
    opt = ALL_OPTIONS[name]
    assert opt.scope and {WING[s] for s in opt.scope} == {opt.group}
    assert name in TABLES_BY_GROUP[opt.group]
    prefix = GROUP_PREFIX.get(opt.group)
    assert name.startswith(prefix) if prefix else not name.startswith(tuple(GROUP_PREFIX.values()))
    if opt.group != "bond":
        assert not opt.netlink and opt.refused_unless is Refused.NONE and not opt.modes


@pytest.mark.parametrize("name", [n for n in ROWS if ALL_OPTIONS[n].netlink])
def test_every_bond_attribute_is_one_the_kernel_has(name):
    opt = ALL_OPTIONS[name]
    assert opt.group == "bond" and opt.netlink == opt.netlink.lower()
    assert "IFLA_BOND_" + opt.netlink.upper() in bond_attributes()
    assert all(mode in BOND_MODES for mode in opt.modes)
    assert opt.kernel == opt.netlink and opt.kernel_needs == opt.refused_unless.value


def test_bond_rows_without_an_attribute_are_ifenslaves_topology_or_ours():
    assert [n for n in TABLES_BY_GROUP["bond"] if not ALL_OPTIONS[n].netlink] == [
        "bond-slaves", "bond-master", "bond-preflight"]


@pytest.mark.parametrize("name", ROWS)
def test_every_networkd_key_is_spelled_as_systemd_does(name):
    opt = ALL_OPTIONS[name]
    for key in opt.keys:
        assert SYSTEMD_NAME.match(key.section) and SYSTEMD_NAME.match(key.key), key
        assert all(SYSTEMD_NAME.match(k) for k in key.alternatives)
        assert " " not in key.value
        for value in key.refused:
            opt.vtype.parse(value)          # networkd refuses what the kernel would take
        assert f"[{key.section}] " in opt.networkd and f"{key.key}=" in opt.networkd
    if not opt.keys:                        # then something else carries it, or nothing
        assert opt.note or opt.carrier.value.endswith(".service"), name
        assert opt.networkd.startswith("(") and opt.networkd.endswith(")")
    if opt.carrier is Carrier.NOTHING:
        assert not opt.keys and opt.note


def test_scopes_name_the_side_lists():
    assert PORT_OPTIONS == ("bond-master", "bond-preflight")
    assert GADGET_SETTINGS == ("usbnet-udc", "usbnet-dev-addr", "usbnet-host-addr",
                               "usbnet-serial-console", "usbnet-vendor-id", "usbnet-product-id")
    assert [n for n in ROWS if ALL_OPTIONS[n].carrier is Carrier.GADGET_UNIT] == sorted(
        ("usbnet-gadget",) + GADGET_SETTINGS)


@pytest.mark.parametrize("group", sorted(TABLES_BY_GROUP))
def test_help_lists_every_option(group):
    text = "\n".join(option_help_lines(TABLES_BY_GROUP[group]))
    for name in TABLES_BY_GROUP[group]:
        assert f"  {name} " in text


@pytest.mark.parametrize("name", ROWS)
def test_the_env_reader_finds_every_row_by_its_variable(name):
    opt = ALL_OPTIONS[name]
    raw = env_options({opt.env: opt.example, "IFACE": "x0", "IF_PRE_UP": "true"})
    assert list(raw) == [name] and raw[name].text == opt.example


@pytest.mark.parametrize("var,table,message", [
    ("IF_AGG_WEIGHT", OPTIONS, "agg-weight: unknown option; did you mean 'agg-weights'?"),
    ("IF_BOND_MIIMONN", TABLES_BY_GROUP["bond"],
     "bond-miimonn: unknown option; did you mean 'bond-miimon'?"),
    ("IF_USBNET_GADGT", TABLES_BY_GROUP["usbnet"],
     "usbnet-gadgt: unknown option; did you mean 'usbnet-gadget'?"),
])
def test_unknown_variables_of_our_prefixes_reach_validation(var, table, message):
    raw = env_options({var: "1", "IF_GATEWAY": "10.0.0.1"})
    assert "gateway" not in raw
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_options("x0", raw, table)


def test_env_and_file_readers_give_the_same_values(tmp_path):
    path = tmp_path / "interfaces"
    path.write_text("iface tun0 inet static\n"
                    "    address 10.99.255.10\n"
                    "    fakenet 10.99.255.0/24\n"
                    "    table 10000 10001\n"
                    "    rspec 10.99.255.10:10.99.0.10 \\\n"
                    "          10.99.255.20:10.99.0.20:10.99.1.20\n"
                    "    agg-weights 1 3\n")
    from_file = parse_options("tun0", ifaces_file.read(str(path)).find("tun0").options, OPTIONS)
    # ifupdown joins continuation lines and exports one variable per option.
    env = {"IF_ADDRESS": "10.99.255.10", "IF_FAKENET": "10.99.255.0/24",
           "IF_TABLE": "10000 10001", "IF_AGG_WEIGHTS": "1 3",
           "IF_RSPEC": "10.99.255.10:10.99.0.10           10.99.255.20:10.99.0.20:10.99.1.20",
           "IF_PRE_UP": "ip tuntap add mode tun tun0", "IFACE": "tun0"}
    from_env = parse_options("tun0", env_options(env), OPTIONS)
    assert from_file == from_env
    assert from_env["agg-weights"] == (1, 3)
    assert from_env["agg-congctl"] == "cubic"        # the default applies


def test_unknown_agg_option_suggests_the_right_one():
    raw = {"agg-weight": RawOption("1 2", Location("interfaces", 9))}
    with pytest.raises(ConfigError) as err:
        parse_options("tun0", raw, OPTIONS)
    assert str(err.value) == "interfaces:9: tun0: agg-weight: unknown option; did you mean 'agg-weights'?"


@pytest.mark.parametrize("option,value,message", [
    ("fakenet", "10.99.255.7/24", "'10.99.255.7/24' has host bits set; did you mean 10.99.255.0/24?"),
    ("fakenet", "10.99.255.0", "'10.99.255.0' is not an IPv4 network written ADDRESS/PREFIX"),
    ("table", "10000 254", "table 254 is the kernel's 'main' table"),
    ("table", "10000 10000", "table 10000 is listed twice"),
    ("table", "10000 ten", "'ten' is not a routing table ID (1 to 4294967295)"),
    ("rspec", "10.1:10.99.0.1", "'10.1' is not an IPv4 address (in rspec entry '10.1:10.99.0.1')"),
    ("rspec", "10.99.255.1", "'10.99.255.1' is not VIRT:HOP[:HOP...] (a virtual address, then one next hop per table)"),
    ("rspec", "10.99.255.1::10.3.23.1", "'10.99.255.1::10.3.23.1' is not VIRT:HOP[:HOP...] (a virtual address, then one next hop per table)"),
    ("agg-weights", "1 0", "'0' is not a weight (a whole number from 1 to 100000, or 'auto')"),
    ("agg-congctl", "Cubic!", "'Cubic!' is not a TCP congestion control name (such as cubic, reno, bbr)"),
    ("agg-gso-max-segs", "0", "'0' is not a number from 1 to 65535"),
    ("agg-rule-priority", "32766", "'32766' is not a number from 1 to 32765"),
])
def test_value_errors_name_the_token(option, value, message):
    from ifupdown_agg.errors import TokenError
    with pytest.raises(TokenError) as err:
        OPTIONS[option].vtype.parse(value)
    assert err.value.reason == message
    assert err.value.token in value


@pytest.mark.parametrize("stanza,env", [
    ("iface bond0 inet manual\n    bond-slaves eth1 eth2\n    bond-mode 802.3ad\n"
     "    bond-lacp-rate fast\n    bond-preflight strict\n",
     {"IF_BOND_SLAVES": "eth1 eth2", "IF_BOND_MODE": "802.3ad", "IF_BOND_LACP_RATE": "fast",
      "IF_BOND_PREFLIGHT": "strict"}),
    ("iface bond0 inet manual\n    usbnet-gadget ncm\n    usbnet-serial-console on\n",
     {"IF_USBNET_GADGET": "ncm", "IF_USBNET_SERIAL_CONSOLE": "on"}),
])
def test_env_and_file_readers_agree_for_bonds_and_usb_links(tmp_path, stanza, env):
    path = tmp_path / "interfaces"
    path.write_text(stanza)
    from_file = ifaces_file.read(str(path)).find("bond0").options
    from_env = env_options(dict(env, IFACE="bond0", IF_PRE_UP="true", METHOD="manual"))
    for table in (TABLES_BY_GROUP["bond"], TABLES_BY_GROUP["usbnet"]):
        assert parse_options("bond0", from_file, table) == parse_options("bond0", from_env, table)
    assert sorted(from_env) == sorted(from_file)

"""The option table: every documented example parses, and both readers agree."""

import pytest

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.errors import ConfigError
from ifupdown_agg.overlay.options import OPTIONS
from ifupdown_agg.config.schema import RawOption, option_help_lines, parse_options
from ifupdown_agg.config.registry import env_options
from ifupdown_agg.errors import Location


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_example_parses(name):
    opt = OPTIONS[name]
    assert opt.example, f"{name} has no example"
    opt.vtype.parse(opt.example)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_default_parses_and_every_option_is_documented(name):
    opt = OPTIONS[name]
    if opt.default is not None:
        opt.vtype.parse(opt.default)
    assert opt.help and opt.networkd and opt.vtype.metavar
    assert opt.env == "IF_" + name.upper().replace("-", "_")


def test_help_lists_every_option():
    text = "\n".join(option_help_lines(OPTIONS))
    for name in OPTIONS:
        assert f"  {name} " in text


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

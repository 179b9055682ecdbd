"""The interfaces(5) reader: source, source-directory, continuations, mappings."""

import os

import pytest

from ifupdown_agg.config import ifaces_file
from ifupdown_agg.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_sources_continuations_comments_and_mappings(tmp_path):
    main = write(tmp_path / "interfaces",
                 "# comment\n"
                 "auto lo tun0\n"
                 "allow-hotplug eth1\n"
                 "iface lo inet loopback\n"
                 "\n"
                 "mapping eth*\n"
                 "    script /usr/local/sbin/map-scheme\n"
                 "    map HOME eth0-home\n"
                 "source interfaces.d/*.cfg\n"
                 "source-directory parts\n")
    write(tmp_path / "interfaces.d" / "a.cfg",
          "iface tun0 inet static\n"
          "    address 10.99.255.10\n"
          "    # a comment between options\n"
          "    rspec 10.99.255.10:10.99.0.10 \\\n"
          "      10.99.255.20:10.99.0.20\n"
          "    pre-up ip tuntap add mode tun tun0\n"
          "    up echo one\n"
          "    up echo two\n")
    write(tmp_path / "parts" / "eth1", "iface eth1 inet dhcp\n")
    write(tmp_path / "parts" / "skipped.bak", "iface bogus inet dhcp\n")   # name not allowed
    parsed = ifaces_file.read(main)
    assert [s.name for s in parsed.stanzas] == ["lo", "tun0", "eth1"]
    assert parsed.auto == ["lo", "tun0"]
    assert parsed.allow == {"hotplug": ["eth1"]}
    tun0 = parsed.find("tun0")
    rspec = tun0.options["rspec"]
    assert rspec.text.split() == ["10.99.255.10:10.99.0.10", "10.99.255.20:10.99.0.20"]
    assert str(rspec.location).endswith("interfaces.d/a.cfg:4")
    assert rspec.locate("10.99.0.20").line == 5     # the continuation line
    assert tun0.commands == [("pre-up", "ip tuntap add mode tun tun0"),
                             ("up", "echo one"), ("up", "echo two")]
    assert parsed.files[-1].endswith(os.path.join("parts", "eth1"))


def test_option_outside_stanza_is_an_error(tmp_path):
    path = write(tmp_path / "interfaces", "auto tun0\n    address 10.0.0.1\n")
    with pytest.raises(ConfigError, match=r"interfaces:2: option 'address' outside of an iface stanza"):
        ifaces_file.read(path)


def test_duplicate_option_is_an_error(tmp_path):
    path = write(tmp_path / "interfaces", "iface tun0 inet static\n fakenet 10.0.0.0/8\n fakenet 10.0.0.0/8\n")
    with pytest.raises(ConfigError, match=r"interfaces:3: tun0: fakenet: given twice in this stanza"):
        ifaces_file.read(path)


def test_source_loop_is_reported(tmp_path):
    path = write(tmp_path / "interfaces", "source interfaces\n")
    with pytest.raises(ConfigError, match="sourced in a loop"):
        ifaces_file.read(path)

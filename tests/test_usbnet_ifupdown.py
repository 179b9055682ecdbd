"""usbnet stanzas through real ifupdown in namespaces: the "Linux as the switch" layout.

The controller c bridges its Ethernet and a USB link (veth pairs stand in for
both: this kernel has no USB) with usbnet-bridge; hosts x and y, one behind
each, reach each other through c's bridge. Gadgets themselves need a UDC and
run in the VM tier (tests/vm).
"""

import pytest

from lab.cluster import Lab

pytestmark = [pytest.mark.root, pytest.mark.ifupdown]

CONTROLLER = """\
auto br0 eth0 usbc0
iface br0 inet static
    address 198.18.20.1/24
    pre-up ip link add br0 type bridge
    post-down ip link del br0

iface eth0 inet manual
    usbnet-bridge br0

iface usbc0 inet manual
    usbnet-match mac 02:1d:6b:00:00:11
    usbnet-bridge br0
"""


@pytest.fixture
def layout():
    with Lab("ub") as lab:
        c, x, y = lab.host("c"), lab.host("x"), lab.host("y")
        c.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", x.ns])
        c.run(["ip", "link", "add", "usbc0", "type", "veth", "peer", "name", "usb0", "netns", y.ns])
        x.sh("ip addr add 198.18.20.10/24 dev eth0 && ip link set eth0 up")
        y.sh("ip addr add 198.18.20.20/24 dev usb0 && ip link set usb0 up")
        c.write_interfaces(CONTROLLER)
        yield lab


def test_bridge_layout_joins_and_leaves(layout):
    c, x = layout.hosts["c"], layout.hosts["x"]
    c.ifup("-a")
    assert "master br0" in c.run(["ip", "link", "show", "usbc0"]).stdout
    assert "master br0" in c.run(["ip", "link", "show", "eth0"]).stdout
    x.run(["ping", "-c", "2", "-W", "2", "198.18.20.20"])      # x -> bridge -> y
    c.ifdown("usbc0")
    assert "master" not in c.run(["ip", "link", "show", "usbc0"]).stdout
    # Applying again changes nothing; ifdown -a removes the rest.
    c.ifup("usbc0")
    c.ifup("usbc0", check=False)
    assert c.run(["ip", "link", "show", "usbc0"]).stdout.count("master br0") == 1
    c.ifdown("-a")
    assert "br0" not in c.run(["ip", "-o", "link"]).stdout


def test_bridge_that_does_not_exist_is_named(layout):
    c = layout.hosts["c"]
    c.write_interfaces("iface usbc0 inet manual\n    usbnet-bridge br7\n")
    proc = c.ifup("usbc0", check=False)
    assert proc.returncode != 0
    assert "usbc0: usbnet-bridge br7: no bridge of that name" in proc.stderr


def test_gadget_option_without_usbnet_gadget_is_refused_with_its_line(layout):
    c = layout.hosts["c"]
    c.write_interfaces("iface usbc0 inet manual\n    usbnet-udc dummy_udc.0\n")
    proc = c.ifup("usbc0", check=False)
    assert proc.returncode != 0
    assert ("/etc/network/interfaces:2: usbc0: usbnet-udc: is a gadget option; add "
            "'usbnet-gadget ncm'") in proc.stderr

"""The USB links' rows of the option table: usbnet-* options."""

from __future__ import annotations

from typing import Dict, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.config.schema import Carrier, NetworkdKey as K, Option, Scope

GADGET = frozenset({Scope.GADGET})
HOST = frozenset({Scope.USB_HOST})


# The device side of a USB link (a configfs gadget), and the host side's naming.
USBNET_OPTIONS: Tuple[Option, ...] = (
    Option("usbnet-gadget", T.choices("ncm", "ecm", "rndis", "eem", numbers=False),
           scope=GADGET,
           help="Make this host a USB network adapter for the machine its USB device port "
                "is plugged into (Pi Zero, Pi 4 on USB-C, CM4). At pre-up a configfs gadget "
                "with this function is created and bound to the USB device controller, and "
                "its network interface gets the stanza's name; post-down removes it. ncm is "
                "the fastest; ecm for old hosts; rndis for Windows; eem for some Macs.",
           example="ncm", carrier=Carrier.GADGET_UNIT, keys=(K("Match", "Name"),)),
    Option("usbnet-udc", T.UDC, scope=GADGET, default="auto",
           help="The USB device controller to bind to (see /sys/class/udc); 'auto' takes "
                "the only one there is.",
           example="fe980000.usb", carrier=Carrier.GADGET_UNIT),
    Option("usbnet-dev-addr", T.MAC_OR_AUTO, scope=GADGET, default="auto",
           help="The gadget side's MAC. 'auto' derives one from /etc/machine-id and the "
                "interface name, so it stays the same across boots.",
           example="auto", carrier=Carrier.GADGET_UNIT),
    Option("usbnet-host-addr", T.MAC_OR_AUTO, scope=GADGET, default="auto",
           help="The MAC the other machine's side of the link gets, derived like "
                "usbnet-dev-addr. Set it by hand to name that side with usbnet-match mac "
                "on the other machine.",
           example="02:1d:6b:00:00:11", carrier=Carrier.GADGET_UNIT),
    Option("usbnet-serial-console", T.ON_OFF, scope=GADGET, default="off",
           help="Add a serial console function (ACM) beside the network one, as ClusterCTRL "
                "does; the other machine sees /dev/ttyACM0. Start a getty on ttyGS0 here.",
           example="on", carrier=Carrier.GADGET_UNIT),
    Option("usbnet-vendor-id", T.HEX16, scope=GADGET, default="0x1d6b",
           help="The gadget's USB vendor ID.", example="0x1d6b",
           carrier=Carrier.GADGET_UNIT),
    Option("usbnet-product-id", T.HEX16, scope=GADGET, default="0x0104",
           help="The gadget's USB product ID.", example="0x0104",
           carrier=Carrier.GADGET_UNIT),
    Option("usbnet-match", T.USB_MATCH,
           help="On the other side of a USB link (a gadget's host, a USB NIC, a PL-25A1 "
                "cable): the device that gets this stanza's name, by its MAC (a gadget's "
                "usbnet-host-addr), its USB serial number, or its udev ID_PATH (a fixed "
                "port). 'ifagg networkd links' writes the .link files that name it (udev applies "
                "them, with or without systemd-networkd).",
           example="mac 02:1d:6b:00:00:11", scope=HOST,
           keys=(K("Match", "MACAddress", alternatives=("Property",)), K("Link", "Name"))),
    Option("usbnet-bridge", T.IFNAME,
           help="Put this USB link into an existing bridge at post-up (and take it out at "
                "pre-down): the controller bridges its gadget links with its Ethernet, "
                "'Linux as the switch', instead of an overlay.",
           example="br0", scope=GADGET | HOST, keys=(K("Network", "Bridge"),)),
)

USBNET_TABLE: Dict[str, Option] = {opt.name: opt for opt in USBNET_OPTIONS}

# The gadget's settings: rows only a gadget's stanza (usbnet-gadget) may carry.
GADGET_SETTINGS: Tuple[str, ...] = tuple(n for n, o in USBNET_TABLE.items()
                                         if o.scope == GADGET and n != "usbnet-gadget")

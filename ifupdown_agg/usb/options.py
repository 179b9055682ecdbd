"""The USB links' rows of the option table: usbnet-* options."""

from __future__ import annotations

from typing import Dict, Tuple

from ifupdown_agg.config import types as T
from ifupdown_agg.config.schema import Option



# The device side of a USB link (a configfs gadget), and the host side's naming.
USBNET_OPTIONS: Tuple[Option, ...] = (
    Option("usbnet-gadget", T.choices("ncm", "ecm", "rndis", "eem", numbers=False),
           group="usbnet",
           help="Make this host a USB network adapter for the machine its USB device port "
                "is plugged into (Pi Zero, Pi 4 on USB-C, CM4). At pre-up a configfs gadget "
                "with this function is created and bound to the USB device controller, and "
                "its network interface gets the stanza's name; post-down removes it. ncm is "
                "the fastest; ecm for old hosts; rndis for Windows; eem for some Macs.",
           example="ncm", networkd="ifupdown-agg-usbgadget@IFACE.service; [Match] Name="),
    Option("usbnet-udc", T.UDC, group="usbnet", default="auto",
           help="The USB device controller to bind to (see /sys/class/udc); 'auto' takes "
                "the only one there is.",
           example="fe980000.usb", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-dev-addr", T.MAC_OR_AUTO, group="usbnet", default="auto",
           help="The gadget side's MAC. 'auto' derives one from /etc/machine-id and the "
                "interface name, so it stays the same across boots.",
           example="auto", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-host-addr", T.MAC_OR_AUTO, group="usbnet", default="auto",
           help="The MAC the other machine's side of the link gets, derived like "
                "usbnet-dev-addr. Set it by hand to name that side with usbnet-match mac "
                "on the other machine.",
           example="02:1d:6b:00:00:11", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-serial-console", T.ON_OFF, group="usbnet", default="off",
           help="Add a serial console function (ACM) beside the network one, as ClusterCTRL "
                "does; the other machine sees /dev/ttyACM0. Start a getty on ttyGS0 here.",
           example="on", networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-vendor-id", T.HEX16, group="usbnet", default="0x1d6b",
           help="The gadget's USB vendor ID.", example="0x1d6b",
           networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-product-id", T.HEX16, group="usbnet", default="0x0104",
           help="The gadget's USB product ID.", example="0x0104",
           networkd="(ifupdown-agg-usbgadget@IFACE.service)"),
    Option("usbnet-match", T.USB_MATCH, group="usbnet",
           help="On the other side of a USB link (a gadget's host, a USB NIC, a PL-25A1 "
                "cable): the device that gets this stanza's name, by its MAC (a gadget's "
                "usbnet-host-addr), its USB serial number, or its udev ID_PATH (a fixed "
                "port). 'ifagg networkd links' writes the .link files that name it (udev applies "
                "them, with or without systemd-networkd).",
           example="mac 02:1d:6b:00:00:11", networkd="[Match] MACAddress=|Property=; [Link] Name="),
    Option("usbnet-bridge", T.IFNAME, group="usbnet",
           help="Put this USB link into an existing bridge at post-up (and take it out at "
                "pre-down): the controller bridges its gadget links with its Ethernet, "
                "'Linux as the switch', instead of an overlay.",
           example="br0", networkd="[Network] Bridge="),
)

USBNET_TABLE: Dict[str, Option] = {opt.name: opt for opt in USBNET_OPTIONS}

"""ifupdown_agg.networkd: the same overlays from systemd-networkd instead of ifupdown.

It reads the same stanzas (or a native configobj file), validates them with
the same option table and model, asks plan.desired_state for the exact kernel
objects, and writes them as .netdev/.network files. Bonds, USB links and
bridges from the same stanzas become .netdev/.network/.link files too
(devices.py). What networkd cannot
express (the nft marking, rp_filter before 255, the GSO limit, the reordering
metric) goes into a per-overlay file that ifupdown-agg-networkd@IFACE.service
applies with `ifagg networkd post-apply IFACE` through the usual executor.
"""

PREFIX = "60-ifagg-"
NETWORK_DIR = "etc/systemd/network"
EXTRAS_DIR = "etc/ifupdown-agg/networkd"
WANTS_DIR = "etc/systemd/system/systemd-networkd.service.wants"
UNIT = "ifupdown-agg-networkd@.service"
UNIT_PATH = "/lib/systemd/system/" + UNIT
# The host side of a USB link is named by a .link file: udev applies the first
# matching one in name order, so ours sort before Debian's 73-usb-net-by-mac.link.
LINK_PREFIX = "70-ifagg-"
GADGET_UNIT = "ifupdown-agg-usbgadget@.service"
GADGET_UNIT_PATH = "/lib/systemd/system/" + GADGET_UNIT
FILE_MODE = 0o640
FILE_GROUP = "systemd-network"

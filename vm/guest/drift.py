"""Drift that needs the stock kernel's bonding and dummy_hcd (issue #13, runs in the VM).

  1. A USB gadget made by ifup, then changed by hand: unbound from its controller,
     its interface renamed, a setting changed. Each: `ifagg check` exit 1 naming the
     object, `ifagg up` mends it, check exit 0 again; ifdown leaves no gadget.
  2. A bond made by `ifagg up`, then changed by hand: miimon and lacp_rate through
     sysfs, a port released. The same: check 1 naming it, up, check 0.
  3. Two overlays and the bond brought up concurrently, ROUNDS rounds in this one
     boot: five `ifagg up` at once, check, then three downs at once; every run
     succeeds, check finds the kernel exactly as configured, nothing is left.
Usage (in the VM): drift.py [ROUNDS]. Results: $IFAGG_VM_RESULTS/drift.json, for
tests/vm/test_vm_tier.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from lab.cluster import Lab
from lab.concurrent import OVERLAYS, TOGETHER

RESULTS = os.environ.get("IFAGG_VM_RESULTS", "/tmp")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20      # vm/run drift.py ROUNDS
CONFIGFS = "/sys/kernel/config"
GADGET_DIR = CONFIGFS + "/usb_gadget/ifagg_usbg0"
BONDING = "/sys/class/net/bond0/bonding"

GADGET = """\
iface usbg0 inet static
    address 198.18.8.2/24
    usbnet-gadget ncm
    usbnet-udc dummy_udc.0
    usbnet-host-addr 02:1d:6b:00:00:11
"""

HOST_A = """\
iface bond0 inet static
    address 198.18.6.1/24
    bond-slaves a1 a2
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate fast

""" + OVERLAYS


def sh(cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)


def ran(proc) -> dict:
    return {"rc": proc.returncode, "out": proc.stdout + proc.stderr}


def check_up_check(host, iface: str) -> dict:
    """check (the drift), up (the repair), check again."""
    before = host.ifagg("check", iface, check=False)
    up = host.ifagg("up", iface, check=False)
    after = host.ifagg("check", iface, check=False)
    return {"check": ran(before), "up": ran(up), "check_after": ran(after)}


def main() -> int:
    r: dict = {}
    try:
        with Lab("vm") as lab:
            usb(r, lab)
            bond(r, lab)
    finally:
        with open(os.path.join(RESULTS, "drift.json"), "w") as fh:
            json.dump(r, fh, indent=1, default=str)
        print(json.dumps(r, indent=1, default=str)[:20000])
    return 0


# ---- 1. the USB gadget ---------------------------------------------------------------------

def usb(r: dict, lab) -> None:
    sh(f"mountpoint -q {CONFIGFS} || mount -t configfs configfs {CONFIGFS}")
    r["modprobe_usb"] = sh("modprobe -a libcomposite usb_f_ncm && modprobe dummy_hcd num=1 "
                           "&& modprobe cdc_ncm").returncode
    g = lab.host("g", attach_pid=1)       # gadgets live in the VM's own namespace
    g.write_interfaces(GADGET)
    r["ifup_usbg0"] = ran(g.ifup("usbg0", check=False))
    r["usb_check_up"] = ran(g.ifagg("check", "usbg0", check=False))
    sh(f"echo > {GADGET_DIR}/UDC")
    r["usb_unbound"] = check_up_check(g, "usbg0")
    r["usb_unbound"]["address"] = sh("ip -o -4 addr show dev usbg0").stdout
    sh("ip link set usbg0 down && ip link set usbg0 name usbx0 && ip link set usbx0 up")
    r["usb_renamed"] = check_up_check(g, "usbg0")
    r["usb_renamed"]["links"] = sh("ip -o link show").stdout
    r["usb_setting_write"] = sh(f"echo 0x0105 > {GADGET_DIR}/idProduct").returncode
    r["usb_setting"] = check_up_check(g, "usbg0")
    r["usb_setting"]["idProduct"] = sh(f"cat {GADGET_DIR}/idProduct").stdout.strip()
    r["ifdown_usbg0"] = ran(g.ifdown("usbg0", check=False))
    r["gadgets_after_down"] = sh(f"ls {CONFIGFS}/usb_gadget").stdout.split()


# ---- 2. the bond, 3. two overlays and the bond together ----------------------------------

def bond(r: dict, lab) -> None:
    r["modprobe_bond"] = sh("modprobe -a bonding tun veth").returncode
    a, b = lab.host("a"), lab.host("b")
    for i in (1, 2):
        a.run(["ip", "link", "add", f"a{i}", "type", "veth", "peer", "name", f"b{i}",
               "netns", b.ns])
        a.run(["ip", "link", "set", f"a{i}", "up"])
    for i in range(2):
        lab.segment([(a, f"eth{i}", f"198.18.7{i}.1"), (b, f"eth{i}", f"198.18.7{i}.2")])
    a.write_interfaces(HOST_A)
    r["up_bond0"] = ran(a.ifagg("up", "bond0", check=False))
    r["bond_check_up"] = ran(a.ifagg("check", "bond0", check=False))
    a.sh(f"echo 200 > {BONDING}/miimon")
    r["bond_miimon"] = check_up_check(a, "bond0")
    r["bond_miimon"]["after"] = a.sh(f"cat {BONDING}/miimon").stdout.strip()
    a.sh(f"ip link set bond0 down && echo slow > {BONDING}/lacp_rate && ip link set bond0 up")
    r["bond_lacp_rate"] = check_up_check(a, "bond0")
    r["bond_lacp_rate"]["after"] = a.sh(f"cat {BONDING}/lacp_rate").stdout.strip()
    a.sh("ip link set a2 nomaster")
    r["bond_port"] = check_up_check(a, "bond0")
    r["bond_port"]["after"] = a.sh(f"cat {BONDING}/slaves").stdout.strip()
    r["down_bond0"] = ran(a.ifagg("down", "bond0", check=False))
    r["links_after_bond_down"] = a.sh("ip -o link show").stdout
    concurrent(r, a)


def _together(h, *cmds) -> list:
    out = h.in_private_mounts(["sh", "-c", TOGETHER, "_", h.dir] + list(cmds),
                              timeout=300).stdout
    return [ln for ln in out.splitlines() if ln.startswith("rc ")]


def concurrent(r: dict, a) -> None:
    rounds = []
    started = time.monotonic()
    for n in range(ROUNDS):
        one: dict = {"up": _together(a, "up tun7", "up tun8", "up bond0", "up tun7", "up bond0")}
        one["check"] = ran(a.ifagg("check", check=False))
        one["objects_up"] = len([o for o in a.our_objects() if "proto 173" in o])
        one["slaves"] = a.sh(f"cat {BONDING}/slaves", check=False).stdout.strip()
        one["down"] = _together(a, "down tun7", "down tun8", "down bond0")
        one["left"] = a.our_objects()
        one["bonds_left"] = a.sh("ip -o link show type bond").stdout
        one["files_left"] = sorted(f for f in os.listdir(f"{a.dir}/run/ifupdown-agg")
                                   if f != "lock")
        rounds.append(one)
        if not _clean(one):
            break       # the first bad round is the evidence; the rest would repeat it
    r["concurrent"] = rounds
    r["concurrent_seconds"] = round(time.monotonic() - started, 1)


def _clean(one: dict) -> bool:
    return (all(ln.split()[2] == "0" for ln in one["up"] + one["down"])
            and len(one["up"]) == 5 and len(one["down"]) == 3 and one["check"]["rc"] == 0
            and not one["left"] and not one["bonds_left"] and not one["files_left"])


if __name__ == "__main__":
    sys.exit(main())

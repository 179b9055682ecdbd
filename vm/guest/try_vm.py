"""`ifagg try` on a real 802.3ad bond and a real USB gadget, on the stock kernel (runs in the VM).

One boot for every case:
  bond   hosts a and b (namespaces) bonded 802.3ad over two veth pairs by real ifup.
         A try of bond-miimon 200 and one of bond-lacp-rate slow (which needs the bond
         down and up) are not confirmed: the timeout puts back the state before (the
         bond's settings, ports, address and the records byte for byte) and LACP settles
         again. A try of miimon 200 confirmed with `ifagg confirm` is kept.
  usb    the VM's own namespace is the gadget side (dummy_hcd, libcomposite, cdc_ncm on
         the host side). usbg0 is made by real ifup (its address from the stanza, a port
         of bridge br9). A try with another usbnet-host-addr replaces the gadget; the
         timeout makes the old one again: configfs, the host side's MAC, usbg0's address,
         bridge and up state, the carrier watch and the records are as before. Confirmed,
         the new gadget stays. A try of a new gadget (usbg1) not confirmed leaves nothing.
Results: $IFAGG_VM_RESULTS/try-vm.json, for tests/vm/test_vm_tier.py.
"""

from __future__ import annotations

import glob
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bond_ifup import BOND_FIRST, PORTS_FIRST, bonding, plan_again, settled, wait_lacp  # noqa: E402
from lab.cluster import Lab  # noqa: E402

RESULTS = os.environ.get("IFAGG_VM_RESULTS", "/tmp")
GADGETS = "/sys/kernel/config/usb_gadget"
PROMPT_STEPS = 600                  # x 0.1 s, for the try to print its question
A_MAC, B_MAC, C_MAC = "02:1d:6b:00:00:11", "02:1d:6b:00:00:22", "02:1d:6b:00:00:33"

GADGET = """\
auto usbg0
iface usbg0 inet static
    address 198.18.8.2/24
    usbnet-gadget ncm
    usbnet-udc dummy_udc.0
    usbnet-host-addr {host}
    usbnet-bridge br9
"""
NEW_GADGET = """
iface usbg1 inet manual
    usbnet-gadget ncm
    usbnet-udc dummy_udc.1
    usbnet-host-addr {host}
""".format(host=C_MAC)


def sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout


def records(host) -> dict:
    out = {}
    for path in sorted(glob.glob(f"{host.dir}/run/ifupdown-agg/*.json")):
        if not path.endswith(".health.json"):
            with open(path) as fh:
                out[os.path.basename(path)] = fh.read()
    return out


def ifagg(host, *args) -> dict:
    proc = host.ifagg(*args, check=False, timeout=300)
    return {"rc": proc.returncode, "out": proc.stdout + proc.stderr}


def pending_try(lab, host, *args):
    """A try in the background, once it asks for the confirmation: (process, its output)."""
    proc = lab.spawn(host, host.private_mounts(["/usr/local/sbin/ifagg", "try"] + list(args)))
    seen = ""
    for _ in range(PROMPT_STEPS):
        if "Keep these changes?" in seen or proc.poll() is not None:
            break
        if select.select([proc.stdout], [], [], 0.1)[0]:
            seen += os.read(proc.stdout.fileno(), 65536).decode()
    return proc, seen


def finish(proc, seen: str) -> dict:
    out, err = proc.communicate(timeout=300)
    return {"rc": proc.returncode, "out": seen + out + err}


# ---- the bond ---------------------------------------------------------------------------

def bond_view(a) -> dict:
    files = {k: a.run(["cat", f"/sys/class/net/bond0/bonding/{k}"]).stdout.strip()
             for k in ("mode", "miimon", "lacp_rate", "slaves", "xmit_hash_policy", "min_links")}
    return {"bonding": files, "addr": a.sh("ip -o -4 addr show dev bond0 | awk '{print $4}'").stdout,
            "up": "UP" in a.sh("ip -br link show bond0").stdout, "records": records(a)}


def bond_cases(r: dict, lab) -> None:
    a, b = lab.host("a"), lab.host("b")
    for i in (1, 2):
        a.run(["ip", "link", "add", f"a{i}", "type", "veth", "peer", "name", f"b{i}",
               "netns", b.ns])
    a.write_interfaces(BOND_FIRST.format(rate="fast"))
    b.write_interfaces(PORTS_FIRST)
    r["bond_ifup"] = [h.ifup("-a", check=False).returncode for h in (a, b)]
    wait_lacp([a, b])
    r["bond_settled_first"] = settled(bonding(a))
    r["bond_before"] = bond_view(a)
    for case, stanza in (("miimon", BOND_FIRST.format(rate="fast").replace("miimon 100", "miimon 200")),
                         ("lacp_rate", BOND_FIRST.format(rate="slow"))):
        a.write_interfaces(stanza)
        r[f"bond_try_{case}"] = ifagg(a, "try", "--timeout", "3", "bond0")
        r[f"bond_after_{case}"] = bond_view(a)
        wait_lacp([a, b])
        r[f"bond_settled_{case}"] = settled(bonding(a))
    a.write_interfaces(BOND_FIRST.format(rate="fast"))
    r["bond_plan_old_stanza"] = plan_again(a, "bond0")
    r["bond_ping"] = b.run(["ping", "-c", "2", "-W", "2", "198.18.7.1"], check=False).returncode
    # Confirmed: kept.
    a.write_interfaces(BOND_FIRST.format(rate="fast").replace("miimon 100", "miimon 200"))
    proc, seen = pending_try(lab, a, "--timeout", "120", "bond0")
    r["bond_confirm"] = ifagg(a, "confirm")
    r["bond_try_confirmed"] = finish(proc, seen)
    r["bond_after_confirm"] = bond_view(a)
    r["bond_plan_after_confirm"] = plan_again(a, "bond0")
    r["bond_ifdown"] = [h.ifdown("-a", check=False).returncode for h in (a, b)]


# ---- the USB gadget ---------------------------------------------------------------------

def gadgets() -> list:
    return sorted(os.listdir(GADGETS)) if os.path.isdir(GADGETS) else []


def usb_view(g) -> dict:
    func = f"{GADGETS}/ifagg_usbg0/functions/ncm.usbg0"
    link = sh("ip -o link show usbg0")
    return {"gadgets": gadgets(),
            "host_addr": sh(f"cat {func}/host_addr").strip().strip("\x00"),   # configfs ends it with a NUL
            "udc": sh(f"cat {GADGETS}/ifagg_usbg0/UDC").strip(),
            "addr": sh("ip -o -4 addr show dev usbg0 | awk '{print $4}'"),
            "master": "master br9" in link, "up": ",UP" in link or "<UP" in link,
            "macs": sorted(sh("cat /sys/class/net/*/address").split()),
            "watch": os.path.exists(f"{g.dir}/run/ifupdown-agg/usbg0.usbnet-watch.pid")
            and sh(f"kill -0 $(cat {g.dir}/run/ifupdown-agg/usbg0.usbnet-watch.pid) && echo alive")
            .strip() == "alive",
            "records": records(g)}


def usb_cases(r: dict, lab) -> None:
    sh("mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config")
    sh("modprobe dummy_hcd num=2 && modprobe -a libcomposite usb_f_ncm cdc_ncm")
    sh("ip link add br9 type bridge && ip link set br9 up")
    g = lab.host("g", attach_pid=1)
    g.write_interfaces(GADGET.format(host=A_MAC))
    up = g.ifup("usbg0", check=False)
    r["usb_ifup"] = {"rc": up.returncode, "out": up.stdout + up.stderr}
    time.sleep(2)                   # the host side's driver binds
    r["usb_before"] = usb_view(g)
    g.write_interfaces(GADGET.format(host=B_MAC))
    proc, seen = pending_try(lab, g, "--timeout", "20", "usbg0")
    r["usb_during"] = usb_view(g)
    r["usb_try"] = finish(proc, seen)
    time.sleep(2)
    r["usb_after"] = usb_view(g)
    # Confirmed: the new gadget stays.
    proc, seen = pending_try(lab, g, "--timeout", "120", "usbg0")
    r["usb_confirm"] = ifagg(g, "confirm")
    r["usb_try_confirmed"] = finish(proc, seen)
    time.sleep(2)
    r["usb_after_confirm"] = usb_view(g)
    # A new gadget, not confirmed: nothing left.
    g.write_interfaces(GADGET.format(host=B_MAC) + NEW_GADGET)
    r["usb_try_new"] = ifagg(g, "try", "--timeout", "3", "usbg1")
    r["usb_after_new"] = {"gadgets": gadgets(), "usbg1": os.path.isdir("/sys/class/net/usbg1"),
                          "records": sorted(records(g))}
    down = g.ifdown("usbg0", check=False)
    r["usb_ifdown"] = {"rc": down.returncode, "out": down.stdout + down.stderr}
    r["usb_gadgets_after_down"] = gadgets()
    sh("ip link del br9")


def main() -> int:
    r: dict = {}
    os.makedirs("/run/network", exist_ok=True)
    try:
        with Lab("vm") as lab:
            bond_cases(r, lab)
            usb_cases(r, lab)
    finally:
        with open(os.path.join(RESULTS, "try-vm.json"), "w") as fh:
            json.dump(r, fh, indent=1, default=str)
        print(json.dumps(r, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

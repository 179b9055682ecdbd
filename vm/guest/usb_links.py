"""USB links made by real ifup from usbnet-* stanzas, on the stock kernel (runs in the VM).

dummy_hcd gives the VM three USB ports whose device side takes configfs gadgets
and whose host side is driven by cdc_ncm, as on a switchless Pi cluster. The
VM's own namespace is the gadget (a Pi Zero), namespace "c" the controller.

  1. Each gadget error is provoked before the kernel can satisfy it: configfs
     not mounted, libcomposite not loaded, no UDC; later a UDC in use and a MAC
     clash. Each must name its cause and leave no gadget behind.
  2. `ifup usbg0` makes an NCM gadget; the host side appears and udev names it
     usbc0 by the .link file written from the controller's usbnet-match stanza.
  3. The overlay aggregates a veth link and the USB link between g and c.
  4. Two RTL8156 stand-in gadgets (Realtek IDs) on cdc_ncm, bonded 802.3ad by
     ifup: bond-preflight strict refuses; warn goes on, and the bond does not
     aggregate; doctor names half duplex on cdc_ncm.
  5. ifdown removes the gadgets.
Results: $IFAGG_VM_RESULTS/usb-links.json, for tests/vm/test_vm_tier.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from lab.cluster import Lab, iperf3

RESULTS = os.environ.get("IFAGG_VM_RESULTS", "/tmp")
CONFIGFS = "/sys/kernel/config"
GADGETS = CONFIGFS + "/usb_gadget"
LINK_DIR = "/etc/systemd/network"
WAIT_STEPS = 100                     # x 0.1 s

GADGET = """\
auto usbg0
iface usbg0 inet static
    address 198.18.8.2/24
    usbnet-gadget ncm
    usbnet-udc dummy_udc.0
    usbnet-host-addr 02:1d:6b:00:00:11

iface usbg1 inet manual
    usbnet-gadget ncm
    usbnet-udc dummy_udc.1
    usbnet-vendor-id 0x0bda
    usbnet-product-id 0x8156
    usbnet-host-addr 00:e0:4c:56:00:01
    bond-master bond1

iface usbg2 inet manual
    usbnet-gadget ncm
    usbnet-udc dummy_udc.2
    usbnet-vendor-id 0x0bda
    usbnet-product-id 0x8156
    usbnet-host-addr 00:e0:4c:56:00:02
    bond-master bond1

iface bond1 inet manual
    bond-slaves none
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate fast
    bond-preflight off

iface tun0 inet static
    address 10.99.255.2
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000 10001
    rspec 10.99.255.1:198.18.9.1:198.18.8.1 10.99.255.2:198.18.9.2:198.18.8.2
"""

OVERLAY_USB = """\
iface tun1 inet static
    address {virt}
    netmask 255.255.255.255
    fakenet 10.98.255.0/24
    table 10010 10011
    rspec 10.98.255.1:198.18.11.1:198.18.12.1 10.98.255.2:198.18.11.2:198.18.12.2
"""

CONTROLLER = """\
allow-hotplug usbc0
iface usbc0 inet static
    address 198.18.8.1/24
    usbnet-match mac 02:1d:6b:00:00:11

iface usbh1 inet manual
    usbnet-match mac 00:e0:4c:56:00:01

iface usbh2 inet manual
    usbnet-match mac 00:e0:4c:56:00:02

iface bond1 inet manual
    bond-slaves usbh1 usbh2
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate fast
    bond-preflight {policy}

iface tun0 inet static
    address 10.99.255.1
    netmask 255.255.255.255
    fakenet 10.99.255.0/24
    table 10000 10001
    rspec 10.99.255.1:198.18.9.1:198.18.8.1 10.99.255.2:198.18.9.2:198.18.8.2
"""


def sh(cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)


def gadgets() -> list:
    return sorted(os.listdir(GADGETS)) if os.path.isdir(GADGETS) else []


def wait_iface(name: str, host=None) -> bool:
    for _ in range(WAIT_STEPS):
        if host is None and os.path.isdir(f"/sys/class/net/{name}"):
            return True
        if host is not None and host.run(["ip", "link", "show", name], check=False).returncode == 0:
            return True
        time.sleep(0.1)
    return False


def attempt(host, iface: str) -> dict:
    proc = host.ifup(iface, check=False)
    host.ifdown(iface, check=False)
    return {"rc": proc.returncode, "stderr": proc.stderr, "gadgets_after": gadgets()}


def usb_link_state(g, c) -> dict:
    """Carrier and a direct ping over each of the two cdc_ncm links, for the record."""
    out = {}
    for i in (1, 2):
        out[f"usbg{i}"] = sh(f"cat /sys/class/net/usbg{i}/carrier; ip -br link show usbg{i}").stdout
        out[f"usbh{i}"] = c.run(["sh", "-c", f"cat /sys/class/net/usbh{i}/carrier; "
                                 f"ip -br link show usbh{i}"], check=False).stdout
        out[f"ping{i}"] = c.run(["ping", "-c", "2", "-W", "2", f"198.18.1{i}.2"],
                                check=False).stdout[-120:]
    return out


def wait_carriers(ctrl) -> bool:
    """Carrier on both cdc_ncm links (host side in ctrl, gadget side here), within WAIT_STEPS."""
    for _ in range(WAIT_STEPS):
        state = [sh(f"cat /sys/class/net/usbg{i}/carrier").stdout.strip() for i in (1, 2)]
        state += [ctrl.run(["cat", f"/sys/class/net/usbh{i}/carrier"], check=False).stdout.strip()
                  for i in (1, 2)]
        if state == ["1"] * 4:
            return True
        time.sleep(0.1)
    return False


def carriers(ctrl) -> dict:
    return {"usbg0": sh("cat /sys/class/net/usbg0/carrier").stdout.strip(),
            "usbc0": ctrl.run(["cat", "/sys/class/net/usbc0/carrier"], check=False).stdout.strip(),
            "udc": sh("cat /sys/class/udc/dummy_udc.0/state").stdout.strip()}


def write_links(ctrl) -> dict:
    """The controller's usbnet-match stanzas as .link files, the way a user installs them."""
    out = ctrl.ifagg("networkd", "links", "--interfaces", f"{ctrl.dir}/etc-network/interfaces",
                     "--root", "/", check=False)
    sh("udevadm control --reload")
    return {"rc": out.returncode, "out": out.stdout + out.stderr,
            "files": sorted(f for f in os.listdir(LINK_DIR)) if os.path.isdir(LINK_DIR) else []}


def main() -> int:
    r: dict = {}
    try:
        run(r)
    finally:
        save(r)
        print(json.dumps(r, indent=1, default=str))
    return 0


def save(r: dict) -> None:
    with open(os.path.join(RESULTS, "usb-links.json"), "w") as fh:
        json.dump(r, fh, indent=1, default=str)


def step(r: dict, started: float, func, *args) -> None:
    """One step of run(): its name and time on the console as it starts and ends, and the
    results so far on disk, so a VM that times out still shows where it was."""
    print(f"@@step {func.__name__} start t={time.monotonic() - started:.1f}s",
          file=sys.stderr, flush=True)
    try:
        func(r, *args)
    finally:
        r.setdefault("steps", {})[func.__name__] = round(time.monotonic() - started, 1)
        save(r)
        print(f"@@step {func.__name__} end t={time.monotonic() - started:.1f}s",
              file=sys.stderr, flush=True)


def run(r: dict) -> None:
    os.makedirs(LINK_DIR, exist_ok=True)
    started = time.monotonic()
    with Lab("vm") as lab:
        g = lab.host("g", attach_pid=1)       # the VM's own namespace: where gadgets live
        c = lab.host("c")
        g.write_interfaces(GADGET)
        c.write_interfaces(CONTROLLER.format(policy="strict"))
        step(r, started, provoke_missing, g)
        step(r, started, gadget_by_ifup, g, c)
        if r["host_side_named"]:
            step(r, started, replug, g)
        step(r, started, provoke_in_use, g)
        if r["host_side_named"]:
            step(r, started, overlay_veth_usb, lab, g, c)
        step(r, started, bond_over_ncm, lab, g, c)
        if r["usbh_named"]:
            step(r, started, overlay_over_ncm, lab, g, c)
        step(r, started, ifdown_removes, g)
        step(r, started, cleanup_and_cli, g)
    sh("udevadm control --exit")


def provoke_missing(r: dict, g) -> None:
    """1. Errors the kernel's state provokes, before it can satisfy them."""
    sh(f"umount {CONFIGFS}")
    r["err_configfs"] = attempt(g, "usbg0")
    sh(f"mount -t configfs configfs {CONFIGFS}")
    r["err_libcomposite"] = attempt(g, "usbg0")
    sh("modprobe -a libcomposite usb_f_ncm")
    r["err_no_udc"] = attempt(g, "usbg0")
    sh("modprobe dummy_hcd num=3 && modprobe -a cdc_ncm bonding tun")


def gadget_by_ifup(r: dict, g, c) -> None:
    """2. The gadget by ifup; udev names the host side."""
    r["links"] = write_links(c)
    r["udevd"] = sh("/usr/lib/systemd/systemd-udevd --daemon && udevadm trigger "
                    "--subsystem-match=net --action=add && udevadm settle -t 10").returncode
    up = g.ifup("usbg0", check=False, verbose=True)
    r["ifup_usbg0"] = {"rc": up.returncode, "out": up.stdout + up.stderr}
    sh("udevadm settle -t 10")
    r["host_side_named"] = wait_iface("usbc0")
    r["host_side_driver"] = os.path.basename(os.readlink("/sys/class/net/usbc0/device/driver")) \
        if r["host_side_named"] else None
    r["gadget_after_up"] = gadgets()


def replug(r: dict, g) -> None:
    """A replug (the host's port disabled and enabled): the watch bounces the gadget once."""
    sh("ip link set usbc0 up")
    for _ in range(WAIT_STEPS):     # bounded; under TCG 1 s was not always enough (CI, 12-04)
        r["carrier_first_plug"] = sh("cat /sys/class/net/usbc0/carrier").stdout.strip()
        if r["carrier_first_plug"] == "1":
            break
        time.sleep(0.1)
    port = sh("ls -d /sys/bus/usb/devices/*/usb*-port* | head -1").stdout.strip()
    sh(f"echo 1 > {port}/disable")
    time.sleep(1)
    sh(f"echo 0 > {port}/disable")
    sh("udevadm settle -t 10")
    if wait_iface("usbc0"):
        sh("ip link set usbc0 up")
    time.sleep(2)
    r["carrier_replug"] = sh("cat /sys/class/net/usbc0/carrier").stdout.strip()
    r["watch_log_replug"] = sh(f"cat {g.dir}/run/ifupdown-agg/usbg0.usbnet-watch.log").stdout
    sh("ip link set usbc0 down")


def provoke_in_use(r: dict, g) -> None:
    """Provoked while usbg0 is bound: the UDC in use, a MAC clash."""
    g.write_interfaces(GADGET + "\niface usbg9 inet manual\n    usbnet-gadget ecm\n"
                       "    usbnet-udc dummy_udc.0\n")
    r["err_udc_in_use"] = attempt(g, "usbg9")
    mac = open("/sys/class/net/usbc0/address").read().strip() if r["host_side_named"] else ""
    g.write_interfaces(GADGET + "\niface usbg9 inet manual\n    usbnet-gadget ncm\n"
                       f"    usbnet-udc dummy_udc.1\n    usbnet-dev-addr {mac}\n")
    r["err_mac_clash"] = attempt(g, "usbg9")
    g.write_interfaces(GADGET)


def overlay_veth_usb(r: dict, lab, g, c) -> None:
    """3. The overlay over a veth link and the USB link: the switchless pair."""
    sh(f"ip link set usbc0 netns {c.ns}")
    lab.segment([(g, "veth9", "198.18.9.2"), (c, "veth9", "198.18.9.1")])
    r["ifup_c_usbc0"] = c.ifup("usbc0", check=False).returncode
    time.sleep(1)
    r["carrier_before_overlay"] = carriers(c)
    r["ifup_c_tun0"] = c.ifup("tun0", check=False).stderr
    r["ifup_g_tun0"] = g.ifup("tun0", check=False).stderr
    time.sleep(1)
    r["carrier"] = carriers(c)
    r["ping_overlay"] = g.run(["ping", "-c", "3", "-W", "2", "10.99.255.1"],
                              check=False).returncode
    try:
        r["overlay_bits_per_s"] = iperf3(lab, c, g, "10.99.255.1", seconds=3)
    except Exception as err:          # reported, judged by the test
        r["overlay_bits_per_s"] = f"iperf3 failed: {err}"
    r["status_g"] = g.status("tun0")
    r["carrier_after_iperf"] = carriers(c)
    r["watch_log"] = sh(f"cat {g.dir}/run/ifupdown-agg/usbg0.usbnet-watch.log").stdout
    r["dmesg_usb"] = sh("dmesg | grep -iE 'usb|ncm' | tail -30").stdout
    g.ifdown("tun0", check=False)
    c.ifdown("tun0", check=False)
    c.ifdown("usbc0", check=False)


def bond_over_ncm(r: dict, lab, g, c) -> None:
    """4. 802.3ad over two cdc_ncm links made by ifup."""
    for iface in ("usbg1", "usbg2", "bond1"):
        out = g.ifup(iface, check=False)
        r[f"ifup_g_{iface}"] = {"rc": out.returncode, "out": out.stdout + out.stderr}
    sh("udevadm settle -t 10")
    r["usbh_named"] = wait_iface("usbh1") and wait_iface("usbh2")
    doc = sh(f"{sys.executable} -m ifupdown_agg doctor --usb --json")
    r["doctor_usb"] = json.loads(doc.stdout) if doc.stdout.strip() else doc.stderr
    r["doctor_usb_text"] = sh(f"{sys.executable} -m ifupdown_agg doctor --usb").stdout
    if r["usbh_named"]:
        sh(f"ip link set usbh1 netns {c.ns} && ip link set usbh2 netns {c.ns}")
        strict = c.ifup("bond1", check=False)
        r["bond_strict"] = {"rc": strict.returncode, "stderr": strict.stderr,
                            "links": c.run(["ip", "-o", "link"]).stdout}
        c.write_interfaces(CONTROLLER.format(policy="warn"))
        warn = c.ifup("bond1", check=False)
        r["bond_warn"] = {"rc": warn.returncode, "stderr": warn.stderr}
        time.sleep(5)             # several fast LACP periods
        r["bonding_c"] = c.run(["cat", "/proc/net/bonding/bond1"], check=False).stdout
        doc = c.run([sys.executable, "-m", "ifupdown_agg", "doctor", "--json", "bond1"],
                    check=False)
        r["doctor_c"] = json.loads(doc.stdout) if doc.stdout.strip() else doc.stderr
        c.ifdown("bond1", check=False)
        out = g.ifdown("bond1", check=False, verbose=True)
        r["ifdown_g_bond1"] = {"rc": out.returncode, "out": out.stdout + out.stderr}


def overlay_over_ncm(r: dict, lab, g, c) -> None:
    """4b. The fallback: the overlay over the same two cdc_ncm links."""
    for i in (1, 2):
        sh(f"ip addr add 198.18.1{i}.2/24 dev usbg{i} && ip link set usbg{i} up")
        c.sh(f"ip addr add 198.18.1{i}.1/24 dev usbh{i} && ip link set usbh{i} up")
    # cdc_ncm's carrier follows the gadget's NCM state: after the bond released them a link
    # has come up without it (CI, once); wait for both, bounce a link once if need be.
    r["usb_carrier"] = [wait_carriers(c), None]
    if not r["usb_carrier"][0]:
        for i in (1, 2):
            sh(f"ip link set usbg{i} down && ip link set usbg{i} up")
            c.sh(f"ip link set usbh{i} down && ip link set usbh{i} up")
        r["usb_carrier"][1] = wait_carriers(c)
    r["usb_links_before_overlay"] = usb_link_state(g, c)
    for h, virt in ((g, "10.98.255.2"), (c, "10.98.255.1")):
        h.write_interfaces(OVERLAY_USB.format(virt=virt))
        r[f"ifup_{h.name}_tun1"] = h.ifup("tun1", check=False).stderr
    # Both monitors must have heard each other before a flow: up to 10 pings.
    r["usb_overlay_pings"] = next(
        (n for n in range(1, 11) if c.run(["ping", "-c", "1", "-W", "1", "10.98.255.2"],
                                          check=False).returncode == 0), None)
    r["usb_overlay_status_before"] = c.status("tun1")
    try:
        r["usb_overlay_bits_per_s"] = iperf3(lab, g, c, "10.98.255.2", seconds=3)
    except Exception as err:
        r["usb_overlay_bits_per_s"] = f"iperf3 failed: {err}"
    r["usb_overlay_links"] = {ln["dev"]: ln["packets"] for ln in c.status("tun1")["links"]}
    r["usb_links_after_overlay"] = usb_link_state(g, c)
    for h in (g, c):
        h.ifdown("tun1", check=False)
    g.write_interfaces(GADGET)
    sh(f"ip -n {c.ns} link set usbh1 netns 1; ip -n {c.ns} link set usbh2 netns 1")


def ifdown_removes(r: dict, g) -> None:
    """5. ifdown removes every gadget."""
    for iface in ("usbg2", "usbg1", "usbg0"):
        out = g.ifdown(iface, check=False, verbose=True)
        r[f"ifdown_g_{iface}"] = {"rc": out.returncode, "out": out.stdout + out.stderr}
    r["gadgets_after_down"] = gadgets()


def cleanup_and_cli(r: dict, g) -> None:
    """Without ifdown (a lost /run): cleanup finds our gadget by its name; then the
    usbnet subcommand that ifupdown-agg-usbgadget@.service runs."""
    g.ifup("usbg0", check=False)
    r["gadgets_before_cleanup"] = gadgets()
    r["cleanup"] = g.ifagg("cleanup", "--all", check=False).stdout
    r["gadgets_after_cleanup"] = gadgets()
    # What ifupdown-agg-usbgadget@.service runs under systemd-networkd.
    spec = f"{g.dir}/etc-network/interfaces"
    r["cli_up"] = g.ifagg("usbnet", "up", "--interfaces", spec, "usbg0", check=False).stdout
    r["cli_gadgets_up"] = gadgets()
    r["cli_iface"] = os.path.isdir("/sys/class/net/usbg0")
    r["cli_down"] = g.ifagg("usbnet", "down", "--interfaces", spec, "usbg0", check=False).stdout
    r["cli_gadgets_down"] = gadgets()
    r["udc_after_down"] = {u: open(f"/sys/class/udc/{u}/state").read().strip()
                           for u in sorted(os.listdir("/sys/class/udc"))}


if __name__ == "__main__":
    sys.exit(main())

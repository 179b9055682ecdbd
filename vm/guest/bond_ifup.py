"""802.3ad bonds made by real ifup through our hooks, on the stock kernel (runs in the VM).

Hosts a and b (namespaces, lab.cluster) are joined by two veth pairs. a
writes the bond's stanza first with bond-slaves; b writes the ports first with
bond-master and the bond with `bond-slaves none`. Both must negotiate LACP.
Then: applying again changes nothing; a changed lacp-rate takes the bond down
and up once; ifdown removes the bonds and releases the ports; with ifenslave's
hook present our hook steps aside; bond-preflight strict refuses a port that
is missing without leaving anything behind. Results go to
$IFAGG_VM_RESULTS/bond-ifup.json for tests/vm/test_vm_tier.py.
"""

from __future__ import annotations

import json
import os
import sys
import time

from ifupdown_agg.bond import procfs as bondinfo
from lab.cluster import Lab

RESULTS = os.environ.get("IFAGG_VM_RESULTS", "/tmp")
SETTLE_STEPS = 150            # x 0.1 s

BOND_FIRST = """\
auto bond0
iface bond0 inet static
    address 198.18.7.1/24
    bond-slaves a1 a2
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate {rate}
    bond-xmit-hash-policy layer3+4
    bond-min-links 1
"""

PORTS_FIRST = """\
auto b1 b2 bond0
iface b1 inet manual
    bond-master bond0

iface b2 inet manual
    bond-master bond0

iface bond0 inet static
    address 198.18.7.2/24
    bond-slaves none
    bond-mode 4
    bond-miimon 100
    bond-lacp-rate fast
"""


def bonding(host) -> str:
    return host.run(["cat", "/proc/net/bonding/bond0"], check=False).stdout


def settled(text: str) -> bool:
    if not text:
        return False
    bond = bondinfo.parse(text, "bond0")
    return (len(bond.slaves) == 2 and len({s.aggregator_id for s in bond.slaves}) == 1
            and bond.partner_mac not in (None, bondinfo.ZERO_MAC)
            and all(s.actor.settled and s.partner.settled for s in bond.slaves))


def wait_lacp(hosts) -> float:
    started = time.monotonic()
    for _ in range(SETTLE_STEPS):
        if all(settled(bonding(h)) for h in hosts):
            break
        time.sleep(0.1)
    return time.monotonic() - started


def plan_again(host, iface: str) -> list:
    """What `ifagg plan` would change now (nothing, once up)."""
    out = host.ifagg("plan", "--json", "--interfaces", f"{host.dir}/etc-network/interfaces",
                     iface, check=False)
    return json.loads(out.stdout)["ops"] if out.returncode == 0 else [out.stdout + out.stderr]


def main() -> int:
    result = {}
    os.makedirs("/run/network", exist_ok=True)
    with Lab("vm") as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in (1, 2):
            a.run(["ip", "link", "add", f"a{i}", "type", "veth", "peer", "name", f"b{i}",
                   "netns", b.ns])
        a.write_interfaces(BOND_FIRST.format(rate="fast"))
        b.write_interfaces(PORTS_FIRST)
        bring_up(result, a, b)
        change_rate(result, a, b)
        change_live(result, a, b)
        step_aside(result, a)
        missing_port(result, a)
    with open(os.path.join(RESULTS, "bond-ifup.json"), "w") as fh:
        json.dump(result, fh, indent=1, default=str)
    print(json.dumps(result, indent=1, default=str))
    return 0


def bring_up(result: dict, a, b) -> None:
    """ifup -a on both hosts; the bond settles, pings, and plans nothing more."""
    for h in (a, b):
        proc = h.ifup("-a", check=False, verbose=True)
        result[f"ifup_{h.name}"] = {"rc": proc.returncode, "out": proc.stdout + proc.stderr}
        print(f"=== ifup -a on {h.name}: rc {proc.returncode}\n{proc.stdout}{proc.stderr}")
    result["settle_seconds"] = round(wait_lacp([a, b]), 1)
    result["bonding_a"], result["bonding_b"] = bonding(a), bonding(b)
    result["ping"] = b.run(["ping", "-c", "2", "-W", "2", "198.18.7.1"], check=False).returncode
    result["doctor_a"] = json.loads(a.run([sys.executable, "-m", "ifupdown_agg", "doctor",
                                           "--json", "bond0"], check=False).stdout or '{"findings": []}')
    result["plan_again_a"] = plan_again(a, "bond0")
    result["plan_again_b"] = plan_again(b, "bond0")


def change_rate(result: dict, a, b) -> None:
    """A change the kernel takes only while the bond is down."""
    a.write_interfaces(BOND_FIRST.format(rate="slow"))
    result["plan_rate_change"] = plan_again(a, "bond0")
    up = a.ifagg("up", "--interfaces", f"{a.dir}/etc-network/interfaces", "bond0", check=False)
    result["up_rate_change"] = up.returncode, up.stdout + up.stderr
    result["lacp_rate_after"] = a.run(["cat", "/sys/class/net/bond0/bonding/lacp_rate"]).stdout
    result["settle_after_change"] = round(wait_lacp([a, b]), 1)


def change_live(result: dict, a, b) -> None:
    """Changes the kernel takes while the bond is up (one set, no down), then a new mode
    (the kernel wants the bond without ports, and down); then ifdown -a."""
    a.write_interfaces(BOND_FIRST.format(rate="slow").replace("miimon 100", "miimon 200")
                       .replace("layer3+4", "layer2+3"))
    result["plan_live_change"] = [op["obj"]["kind"] for op in plan_again(a, "bond0")]
    up = a.ifagg("up", "--interfaces", f"{a.dir}/etc-network/interfaces", "bond0", check=False)
    result["up_live_change"] = up.returncode, up.stdout + up.stderr
    result["miimon_after"] = a.run(["cat", "/sys/class/net/bond0/bonding/miimon"]).stdout.strip()
    # A new mode: the kernel wants the bond without ports, and down.
    a.write_interfaces(BOND_FIRST.format(rate="slow").replace("miimon 100", "miimon 200")
                       .replace("layer3+4", "layer2+3").replace("802.3ad", "balance-xor")
                       .replace("    bond-lacp-rate slow\n", ""))
    result["plan_mode_change"] = [op["action"] + " " + op["obj"]["kind"]
                                  for op in plan_again(a, "bond0")]
    up = a.ifagg("up", "--interfaces", f"{a.dir}/etc-network/interfaces", "bond0", check=False)
    result["up_mode_change"] = up.returncode, up.stdout + up.stderr
    result["mode_after"] = a.run(["cat", "/sys/class/net/bond0/bonding/mode"]).stdout.strip()
    result["ports_after_mode_change"] = a.run(
        ["cat", "/sys/class/net/bond0/bonding/slaves"]).stdout.strip()

    result["ifdown_a"] = a.ifdown("-a", check=False).returncode
    result["ifdown_b"] = b.ifdown("-a", check=False).returncode
    result["links_after_down"] = {h.name: h.run(["ip", "-o", "link"]).stdout for h in (a, b)}


def step_aside(result: dict, a) -> None:
    """Debian's ifenslave present: our hook leaves the stanza to it."""
    hook = os.path.join(a.dir, "etc-network", "if-pre-up.d", "ifenslave")
    with open(hook, "w") as fh:
        fh.write("#!/bin/sh\necho \"ifenslave ran for $IFACE\" >&2\n")
    os.chmod(hook, 0o755)
    a.write_interfaces(BOND_FIRST.format(rate="fast"))
    proc = a.ifup("bond0", check=False, verbose=True)
    result["step_aside"] = {"rc": proc.returncode, "stderr": proc.stderr,
                            "links": a.run(["ip", "-o", "link"]).stdout}
    a.ifdown("bond0", check=False)
    os.remove(hook)


def missing_port(result: dict, a) -> None:
    """strict pre-flight with a port that is missing: refused, nothing left."""
    a.write_interfaces(BOND_FIRST.format(rate="fast").replace("a2", "a9")
                       + "    bond-preflight strict\n")
    refused = a.ifup("bond0", check=False)
    result["missing_port"] = {"rc": refused.returncode, "stderr": refused.stderr,
                              "links": a.run(["ip", "-o", "link"]).stdout}


if __name__ == "__main__":
    sys.exit(main())

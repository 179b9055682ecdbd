"""A cluster of network namespaces joined by shaped links, for the demo, tests and bench.

Every host is a network namespace; ifupdown runs in it for real, under a
private mount namespace that binds the host's own /etc/network, /run and a
shim `ifagg` over the system's. Nothing here touches the root namespace's
network: links are created inside the namespaces, and close() deletes them
all, also after a failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK_PHASES = ("if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d")
# Per command; the VM tier (TCG, several times slower) raises it through the environment.
DEFAULT_TIMEOUT = float(os.environ.get("IFAGG_LAB_TIMEOUT", "60"))
# IFAGG_LAB_TRACE=S prints every command that took S seconds or more (the VM tier sets it).
TRACE = float(os.environ.get("IFAGG_LAB_TRACE", "0") or 0)
CONFIGFS = "/sys/kernel/config"


class LabError(RuntimeError):
    pass


def _run(cmd: Sequence[str], check: bool = True, timeout: float = DEFAULT_TIMEOUT,
         input: Optional[str] = None) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input)
    if TRACE and time.monotonic() - started >= TRACE:
        print(f"@@lab {time.monotonic() - started:.1f} s rc={proc.returncode}: "
              f"{' '.join(cmd)[-160:]}", file=sys.stderr, flush=True)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(map(shlex.quote, cmd))} failed ({proc.returncode}):\n"
                       f"{proc.stdout}{proc.stderr}")
    return proc


def hook_source() -> str:
    """The hook wrapper the package installs; the lab installs the same file."""
    for candidate in (os.path.join(REPO, "debian", "ifupdown-agg.if-up"),
                      "/etc/network/if-up.d/ifupdown-agg"):
        if os.path.exists(candidate):
            return candidate
    raise LabError("no ifupdown-agg hook found (debian/ifupdown-agg.if-up)")


@dataclass
class Host:
    lab: "Lab"
    name: str
    ns: str
    dir: str
    nics: List[str] = field(default_factory=list)

    def run(self, cmd: Sequence[str], check: bool = True, timeout: float = DEFAULT_TIMEOUT,
            input: Optional[str] = None) -> subprocess.CompletedProcess:
        return _run(["ip", "netns", "exec", self.ns] + list(cmd), check, timeout, input)

    def sh(self, script: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT):
        return self.run(["sh", "-c", script], check, timeout)

    def popen(self, cmd: Sequence[str]) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns] + list(cmd),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # ---- ifupdown under a private mount namespace ---------------------------------------

    def write_interfaces(self, text: str, name: str = "interfaces") -> str:
        path = os.path.join(self.dir, "etc-network", name)
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def in_private_mounts(self, cmd: Sequence[str], check: bool = True,
                          timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess:
        return self.run(self.private_mounts(cmd), check, timeout)

    def private_mounts(self, cmd: Sequence[str]) -> List[str]:
        """CMD under a private mount namespace with the host's /etc/network, /run and
        the ifagg shim bound in: how ifupdown and ifagg run on this host (no netns exec)."""
        d = self.dir
        binds = (f"mount --bind {d}/etc-network /etc/network && "
                 f"mount --bind {d}/run /run && "
                 f"mount --bind {d}/sbin /usr/local/sbin && ")
        if os.path.ismount(CONFIGFS):
            # `ip netns exec` mounts a fresh /sys, without configfs: USB gadgets need it.
            binds += f"mount -t configfs configfs {CONFIGFS} && "
        binds += "exec \"$@\""
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", binds, "_"] + list(cmd)

    def ifup(self, iface: str, check: bool = True, verbose: bool = False):
        args = ["ifup", "--state-dir", f"{self.dir}/ifstate"] + (["-v"] if verbose else []) + [iface]
        return self.in_private_mounts(args, check)

    def ifdown(self, iface: str, check: bool = True, verbose: bool = False):
        args = ["ifdown", "--state-dir", f"{self.dir}/ifstate"] + (["-v"] if verbose else []) + [iface]
        return self.in_private_mounts(args, check)

    def ifagg(self, *args: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT):
        return self.in_private_mounts(["/usr/local/sbin/ifagg"] + list(args), check, timeout)

    def status(self, iface: str) -> Dict:
        return json.loads(self.ifagg("status", "--json", iface, check=False).stdout)["overlays"][0]

    # ---- inspection ---------------------------------------------------------------------

    def our_objects(self) -> List[str]:
        """Everything in this namespace that carries ifupdown-agg's marks."""
        # `route show table all` lists both families; `rule show` IPv4 only.
        out = self.run(["sh", "-c", "ip -o rule show; ip -6 -o rule show; echo ==;"
                        " ip -o route show table all; echo ==;"
                        " nft list tables; echo ==; ip -o link show type tun;"
                        " ip -o link show type veth | grep -E ': agg[sx]-' || true; echo ==;"
                        " for d in $(ls /sys/class/net); do tc filter show dev $d egress; done"]).stdout
        rules, routes, tables, tuns, filters = out.split("==\n")
        found = [ln for ln in rules.splitlines() if "proto 173" in ln]
        found += [ln for ln in routes.splitlines() if "proto 173" in ln]
        found += [ln for ln in tables.splitlines() if "ifagg_" in ln or "ifagg6_" in ln]
        found += [ln for ln in tuns.splitlines() if ln.strip()]
        found += [ln for ln in filters.splitlines() if "spread" in ln]
        return found + self.meters_left()

    def meters_left(self) -> List[str]:
        """The spreader's queue meters still on a NIC's tcx egress (no tc shows them)."""
        code = ("from ifupdown_agg.kernel import meters\n"
                "for nic, prog in meters.strays((), every=True): print(f'tcx egress {nic}: {prog}')")
        out = self.run(["env", f"PYTHONPATH={self.lab.repo}", self.lab.python, "-c", code]).stdout
        return [ln for ln in out.splitlines() if ln.strip()]


def _rate_bits(rate: str) -> int:
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for unit, mult in units.items():
        if rate.endswith(unit):
            return int(float(rate[: -len(unit)]) * mult)
    return int(rate)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


class Lab:
    """Namespaces named <prefix><pid>-<host>; close() removes every one of them."""

    def __init__(self, prefix: str = "agg", python: str = sys.executable, repo: str = REPO):
        self.tag = f"{prefix}{os.getpid()}"
        self.python = python
        self.repo = repo
        self.root = tempfile.mkdtemp(prefix=f"ifagg-{self.tag}-")
        self.hosts: Dict[str, Host] = {}
        self.switches: List[str] = []
        self._procs: List[subprocess.Popen] = []
        self._attached: set = set()

    def __enter__(self) -> "Lab":
        # timeout(1) and kill send SIGTERM, whose default ends Python without unwinding:
        # turned into SystemExit, it still runs close() (a benchmark left namespaces so).
        self._term = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._term = signal.signal(signal.SIGTERM, _terminated)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            if self._term is not None:
                signal.signal(signal.SIGTERM, self._term)

    def _netns(self, name: str) -> str:
        ns = f"{self.tag}-{name}"
        _run(["ip", "netns", "add", ns])
        _run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        return ns

    def host(self, name: str, attach_pid: Optional[int] = None) -> Host:
        """A host in a new namespace; with attach_pid, in that process's namespace
        (only inside a throwaway VM: the VM tier attaches its root namespace)."""
        if attach_pid is None:
            ns = self._netns(name)
        else:
            ns = f"{self.tag}-{name}"
            _run(["ip", "netns", "attach", ns, str(attach_pid)])
            self._attached.add(ns)
        hdir = os.path.join(self.root, name)
        for sub in ("etc-network", "run", "sbin", "ifstate"):
            os.makedirs(os.path.join(hdir, sub))
        for phase in HOOK_PHASES:
            os.makedirs(os.path.join(hdir, "etc-network", phase))
            shutil.copy(hook_source(), os.path.join(hdir, "etc-network", phase, "ifupdown-agg"))
        shim = os.path.join(hdir, "sbin", "ifagg")
        with open(shim, "w") as fh:
            # ifupdown gives hooks a fixed environment: the path is baked in here.
            # IFAGG_LAB_PYTHONPATH puts other library versions first (pyroute2 from PyPI).
            path = ":".join(p for p in (os.environ.get("IFAGG_LAB_PYTHONPATH"), self.repo) if p)
            fh.write("#!/bin/sh\n"
                     f"PYTHONPATH={shlex.quote(path)} exec {shlex.quote(self.python)} "
                     "-m ifupdown_agg \"$@\"\n")
        os.chmod(shim, 0o755)
        host = Host(self, name, ns, hdir)
        self.hosts[name] = host
        return host

    def segment(self, members: Sequence[tuple], prefixlen: int = 24, rate: Optional[str] = None,
                burst: str = "64kb", latency: str = "20ms") -> None:
        """One L2 link: [(host, nic, address), ...]; two members are a veth pair,
        more meet on a bridge in a switch namespace. `rate` shapes each host's egress."""
        self._wire(members)
        for h, nic, addr in members:
            h.nics.append(nic)
            h.run(["ip", "addr", "add", f"{addr}/{prefixlen}", "dev", nic])
            h.run(["ip", "link", "set", nic, "up"])
            if rate:
                self.shape(h, nic, rate, burst, latency)

    def link_local_segment(self, members: Sequence[tuple], rate: Optional[str] = None,
                           burst: str = "64kb", latency: str = "20ms") -> None:
        """One L2 link whose ends hold IPv6 link-local addresses only (no IPv4, no global
        or ULA): [(host, nic, lladdr, mac), ...]. An lladdr ("fe80::10") is added without
        DAD, beside the kernel's own; None leaves the NIC the kernel's EUI-64 one, made
        from `mac` when one is given (eui64() says which); "down" leaves the NIC down,
        for an inet6 stanza or the caller to bring up (and the kernel's DAD to start then)."""
        self._wire([(h, nic, None) for h, nic, *_ in members])
        for h, nic, lladdr, mac in members:
            h.nics.append(nic)
            if mac:
                h.run(["ip", "link", "set", nic, "address", mac])
            if rate:
                self.shape(h, nic, rate, burst, latency)
            if lladdr == "down":
                continue
            if lladdr:
                h.run(["ip", "-6", "addr", "add", f"{lladdr}/64", "dev", nic, "nodad"])
            h.run(["ip", "link", "set", nic, "up"])

    def _wire(self, members: Sequence[tuple]) -> None:
        """The veth pair, or the bridge and a veth per member, of one L2 link."""
        if len(members) == 2:
            (a, nic_a, _), (b, nic_b, _) = members
            a.run(["ip", "link", "add", nic_a, "type", "veth", "peer", "name", nic_b,
                   "netns", b.ns])
        else:
            sw = self._netns(f"sw{len(self.switches)}")
            self.switches.append(sw)
            _run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
            _run(["ip", "-n", sw, "link", "set", "br0", "up"])
            for i, (h, nic, _) in enumerate(members):
                port = f"p{i}"
                h.run(["ip", "link", "add", nic, "type", "veth", "peer", "name", port, "netns", sw])
                _run(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"])

    def shape(self, h: Host, nic: str, rate: str, burst: str = "64kb", latency: str = "20ms") -> None:
        h.run(["tc", "qdisc", "replace", "dev", nic, "root", "tbf", "rate", rate,
               "burst", burst, "latency", latency])

    def spawn(self, host: Host, cmd: Sequence[str]) -> subprocess.Popen:
        proc = host.popen(cmd)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        namespaces = [h.ns for h in self.hosts.values()] + self.switches
        for ns in namespaces:
            if ns in self._attached:
                continue        # not ours to empty: only the name goes
            pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in namespaces:
            _run(["ip", "netns", "del", ns], check=False)
        self.hosts.clear()
        self.switches.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def iperf3(lab: Lab, server: Host, client: Host, dst: str, seconds: float = 4,
           port: int = 5201, extra: Sequence[str] = ()) -> float:
    """One TCP flow client -> server; returns the receiver's rate in bit/s."""
    srv = lab.spawn(server, ["iperf3", "-s", "-1", "-p", str(port)])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:      # bounded: wait for the listener
            if f":{port}" in server.run(["ss", "-ltn"]).stdout:
                break
            time.sleep(0.05)
        res = client.run(["iperf3", "-c", dst, "-p", str(port), "-t", str(seconds), "-J"]
                         + list(extra), timeout=seconds + 30)
        data = json.loads(res.stdout)
        return float(data["end"]["sum_received"]["bits_per_second"])
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.communicate(timeout=5)


def eui64(mac: str) -> str:
    """The link-local address the kernel makes from a MAC (addr_gen_mode eui64)."""
    b = [int(x, 16) for x in mac.split(":")]
    iid = [b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]]
    words = [f"{iid[i] << 8 | iid[i + 1]:x}" for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(words)))


def counters(host: Host, nics: Sequence[str], what: str = "tx_bytes") -> Dict[str, int]:
    """Each NIC's byte (or packet) counter, from the host's /sys/class/net."""
    out = host.sh(" ".join(f"cat /sys/class/net/{n}/statistics/{what};" for n in nics)).stdout
    return dict(zip(nics, map(int, out.split())))


def wait_for(predicate, limit: float = 15.0) -> bool:
    """Bounded: poll `predicate` every 0.2 s until it holds (True) or `limit` passes."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def missing_tools(*names: str) -> List[str]:
    return [n for n in names if shutil.which(n) is None]


# ---- the seed's cluster ----------------------------------------------------------------
# The seed's three hosts with their addresses moved into 198.18.0.0/15: host g is
# the gateway (one NIC, fewer hops than tables); hosts a and b have one NIC per
# link: point-to-point links, and a last one on a segment shared with g.

SEED = """\
auto tun0
iface tun0 inet static
    address {address}
    netmask 255.255.255.255
    mtu 9000
    fakenet 198.19.255.0/24
    table {tables}
    rspec {gateway} \\
          {host_a} \\
          {host_b}
    pre-up ip tuntap add mode tun tun0
    post-down ip tuntap del mode tun tun0
"""
VIRT = {"g": "198.19.255.1", "a": "198.19.255.10", "b": "198.19.255.20"}


def build_seed_cluster(lab: Lab, rate: str = "100mbit", links: int = 4, burst: str = "64kb"):
    """Hosts g, a, b; a and b share `links` links, the last one on g's segment."""
    g, a, b = lab.host("g"), lab.host("a"), lab.host("b")
    for i in range(links - 1):
        lab.segment([(a, f"eth{i}", f"198.18.{i}.10"), (b, f"eth{i}", f"198.18.{i}.20")],
                    rate=rate, burst=burst)
    last = links - 1
    lab.segment([(g, "eth0", "198.18.23.1"), (a, f"eth{last}", "198.18.23.10"),
                 (b, f"eth{last}", "198.18.23.20")], rate=rate, burst=burst)
    return g, a, b


def seed_stanza(address: str, links: int = 4) -> str:
    """The seed stanza (exactly, for 4 links), for the host with virtual `address`."""
    def entry(host: int) -> str:
        hops = [f"198.18.{i}.{host}" for i in range(links - 1)] + [f"198.18.23.{host}"]
        return ":".join([f"198.19.255.{host}"] + hops)
    gateway = ":".join(["198.19.255.1"] + ["198.18.23.1"] * max(1, links - 1))
    return SEED.format(address=address, tables=" ".join(str(10000 + i) for i in range(links)),
                       gateway=gateway, host_a=entry(10), host_b=entry(20))

"""systemd-networkd inside the lab's namespace hosts (lab.cluster), for tests and demos.

Each node runs its own dbus-daemon and systemd-networkd in a private mount
namespace over its host's network namespace: a private /run, its own
/etc/systemd/network (below the node's --root-dir), a read-only /sys (which
tells networkd there is no udev to wait for) and a private /dev/net/tun that
networkd can open after dropping root to systemd-network. Every daemon is a
child we track; stop() and the lab's close() end them, also after a failure.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from typing import List, Optional, Sequence

from lab.cluster import DEFAULT_TIMEOUT, Host, Lab, LabError

NETWORKD = "/lib/systemd/systemd-networkd"
START_TIMEOUT = 15.0


class NetworkdNode:
    def __init__(self, lab: Lab, host: Host):
        self.lab, self.host = lab, host
        self.base = os.path.join(host.dir, "networkd")
        self.root = os.path.join(self.base, "root")
        self.network_dir = os.path.join(self.root, "etc", "systemd", "network")
        self.run_dir = os.path.join(self.base, "run")
        self.interfaces = os.path.join(self.base, "interfaces")
        self.procs: List[subprocess.Popen] = []
        os.makedirs(self.network_dir, exist_ok=True)
        os.makedirs(os.path.join(self.run_dir, "dbus"), exist_ok=True)
        os.makedirs(os.path.join(self.run_dir, "systemd"), exist_ok=True)  # networkd makes netif/ in it
        os.chmod(self.run_dir, 0o755)

    # ---- the private mount namespace --------------------------------------------------

    def wrap(self, cmd: Sequence[str]) -> List[str]:
        setup = " && ".join([
            f"mount --bind {shlex.quote(self.run_dir)} /run",
            f"mount --bind {shlex.quote(self.network_dir)} /etc/systemd/network",
            "mount -o remount,bind,ro /sys",
            "mount -t tmpfs -o mode=0755 tmpfs /dev/net",
            "mknod -m 0660 /dev/net/tun c 10 200",
            "chgrp systemd-network /dev/net/tun",
            'exec "$@"'])
        return (["ip", "netns", "exec", self.host.ns, "unshare", "-m", "--propagation",
                 "private", "sh", "-c", setup, "_"] + list(cmd))

    def run(self, cmd: Sequence[str], check: bool = True, timeout: float = DEFAULT_TIMEOUT,
            ) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.wrap(cmd), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise LabError(f"{self.host.name}: {' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
        return proc

    def ifagg(self, *args: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT):
        shim = os.path.join(self.host.dir, "sbin", "ifagg")
        return self.run([shim] + list(args), check, timeout)

    def networkd(self, action: str, *args: str, check: bool = True, source: Optional[str] = None):
        """`ifagg networkd ACTION` with this node's interfaces file and root."""
        src = ["-i", source or self.interfaces] if action != "post-apply" else []
        return self.ifagg("networkd", action, *src, "--root-dir", self.root, *args, check=check)

    def write_interfaces(self, text: str) -> str:
        with open(self.interfaces, "w") as fh:
            fh.write(text)
        return self.interfaces

    # ---- daemons ----------------------------------------------------------------------

    def _spawn(self, cmd: Sequence[str], log: str) -> subprocess.Popen:
        with open(os.path.join(self.base, log), "ab") as out:
            proc = subprocess.Popen(self.wrap(cmd), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.lab._procs.append(proc)      # the lab's close() ends it too
        return proc

    def _wait_for(self, path: str, proc: subprocess.Popen, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.05) + 1):     # bounded in count and time
            if os.path.exists(path):
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        logs = "".join(self._read(name)[-2000:] for name in ("dbus.log", "networkd.log"))
        raise LabError(f"{self.host.name}: {what} did not start:\n{logs}")

    def start(self) -> None:
        """dbus-daemon, then networkd; each is the process we spawned (every step execs)."""
        dbus = self._spawn(["dbus-daemon", "--system", "--nofork", "--nopidfile"], "dbus.log")
        self._wait_for(os.path.join(self.run_dir, "dbus", "system_bus_socket"), dbus,
                       "dbus-daemon")
        nd = self._spawn([NETWORKD], "networkd.log")
        self._wait_for(os.path.join(self.run_dir, "systemd", "netif", "state"), nd,
                       "systemd-networkd")

    def stop_networkd(self) -> None:
        self._stop(lambda p: NETWORKD in " ".join(p.args))

    def stop(self) -> None:
        self._stop(lambda p: True)

    def _stop(self, which) -> None:
        # networkd before dbus, so it does not log a lost bus; newest first.
        for proc in reversed([p for p in self.procs if which(p)]):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            self.procs.remove(proc)

    def log(self) -> str:
        return self._read("networkd.log")

    def _read(self, name: str) -> str:
        try:
            with open(os.path.join(self.base, name), errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""


def member_stanzas(host: Host, prefixlen: int = 24) -> str:
    """interfaces(5) stanzas for the host's NICs as the lab addressed them (migration input)."""
    out = []
    addrs = host.run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines()
    for line in addrs:
        words = line.split()
        nic, cidr = words[1], words[3]
        if nic in host.nics:
            out.append(f"auto {nic}\niface {nic} inet static\n    address {cidr}\n")
    return "\n".join(out) + "\n"


def hand_nics_to_networkd(host: Host) -> None:
    """Drop the lab's addresses, so networkd makes them from our files alone."""
    for nic in host.nics:
        host.run(["ip", "-4", "addr", "flush", "dev", nic])

"""A dual-stack overlay through real ifupdown: an inet and an inet6 stanza on tun0 of
three namespace hosts (a, b, c) over two shaped links, each a segment of all three.
The setting of the inet6 tests (tests/test_overlay_ifupdown_inet6.py, and the IPv6
link monitor's tests/test_failover_inet6.py).

Link i is 198.18.i.0/24 and fd99:i::/64 (a .10 and ::10, b 20, c 30); the overlay is
198.19.255.0/24 and fd99:ff::/64 on tun0.
"""

import os
from contextlib import contextmanager
from typing import Iterator

from lab.cluster import Lab

HOSTS = {"a": 10, "b": 20, "c": 30}
LINKS = 2

STANZAS = """\
auto tun0
iface tun0 inet static
    address 198.19.255.{n}
    netmask 255.255.255.255
    fakenet 198.19.255.0/24
    table 10000 10001
    rspec {rspec4}
    pre-up ip tuntap add mode tun tun0
    post-down ip tuntap del mode tun tun0
{extra}
iface tun0 inet6 static
    address fd99:ff::{n}
    netmask 128
    fakenet fd99:ff::/64
    table 10000 10001
    rspec {rspec6}
{extra}"""


def virt4(name: str) -> str:
    return f"198.19.255.{HOSTS[name]}"


def virt6(name: str) -> str:
    return f"fd99:ff::{HOSTS[name]}"


def stanzas(n: int, extra: str = "") -> str:
    """Both of tun0's stanzas for the host numbered `n`; `extra` lines go into each."""
    rspec4 = " ".join(f"198.19.255.{m}:198.18.0.{m}:198.18.1.{m}" for m in HOSTS.values())
    rspec6 = " ".join(f"[fd99:ff::{m}]:[fd99:0::{m}]:[fd99:1::{m}]" for m in HOSTS.values())
    return STANZAS.format(n=n, rspec4=rspec4, rspec6=rspec6, extra=extra)


@contextmanager
def dual_stack(name: str, rate: str = "200mbit", extra: str = "",
               key: bool = False) -> Iterator[Lab]:
    """The lab with tun0's two stanzas up on every host; ifdown on each at the end,
    whatever happened (a test that took them down already makes that a no-op). With
    `key`, every host's monitors sign their hellos with one key (lab.root/probe.key)."""
    with Lab(name) as lab:
        if key:
            path = os.path.join(lab.root, "probe.key")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
                fh.write("1 " + "6b" * 32 + "\n")
            extra += f"    agg-probe-key-file {path}\n"
        hosts = {h: lab.host(h) for h in HOSTS}
        for i in range(LINKS):
            lab.segment([(h, f"eth{i}", f"198.18.{i}.{HOSTS[n]}") for n, h in hosts.items()],
                        rate=rate)
            for n, h in hosts.items():
                # nodad: the hops are usable at once, as after a settled DAD.
                h.run(["ip", "-6", "addr", "add", f"fd99:{i}::{HOSTS[n]}/64", "dev", f"eth{i}",
                       "nodad"])
        try:
            for n, h in hosts.items():
                h.write_interfaces(stanzas(HOSTS[n], extra))
            for h in hosts.values():
                h.ifup("tun0")
            yield lab
        finally:
            for h in hosts.values():
                h.ifdown("tun0", check=False)

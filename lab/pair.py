"""Two hosts, a and b, joined by shaped links and an overlay brought up by real ifup
with its defaults: the setting of the data-path tests (pacing, queue meters, pods).

Link i is 198.18.i.0/24 (a .10, b .20); the overlay is 198.19.255.0/24 on tun0.
"""

from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Tuple

from lab.cluster import Host, Lab

VIRT = {"a": "198.19.255.10", "b": "198.19.255.20"}


def stanza(me: str, links: int, extra: str = "") -> str:
    """tun0's stanza for the host whose overlay address is `me`, over `links` links."""
    rspec = " ".join(f"198.19.255.{h}:" + ":".join(f"198.18.{i}.{h}" for i in range(links))
                     for h in (10, 20))
    return (f"auto tun0\niface tun0 inet static\n    address {me}\n    netmask 255.255.255.255\n"
            f"    fakenet 198.19.255.0/24\n    table {' '.join(str(10000 + i) for i in range(links))}\n"
            f"    rspec {rspec}\n{extra}")


@contextmanager
def overlay_pair(name: str, links: int, rate: str = "100mbit", burst: str = "3kb",
                 before_up: Optional[Callable[[Host], None]] = None) -> Iterator[Tuple[Lab, Host, Host]]:
    """(lab, a, b) with tun0 up on both; ifdown on both at the end, whatever happened."""
    with Lab(name) as lab:
        a, b = lab.host("a"), lab.host("b")
        for i in range(links):
            lab.segment([(a, f"eth{i}", f"198.18.{i}.10"), (b, f"eth{i}", f"198.18.{i}.20")],
                        rate=rate, burst=burst)
        try:
            for h in (a, b):
                if before_up:
                    before_up(h)
                h.write_interfaces(stanza(VIRT[h.name], links))
                h.ifup("tun0")
            yield lab, a, b
        finally:
            for h in (a, b):
                h.ifdown("tun0", check=False)

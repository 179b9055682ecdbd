"""The seed's three-host cluster, with its addresses moved into 198.18.0.0/15.

Host g is the seed's gateway (one NIC, fewer hops than tables); hosts a and b
have four NICs each: three point-to-point links and a shared segment with g.
"""

from ifupdown_agg.lab import Lab

SEED = """\
auto tun0
iface tun0 inet static
    address {address}
    netmask 255.255.255.255
    mtu 9000
    fakenet 198.19.255.0/24
    table 10000 10001 10002 10003
    rspec 198.19.255.1:198.18.23.1:198.18.23.1:198.18.23.1 \\
          198.19.255.10:198.18.0.10:198.18.1.10:198.18.2.10:198.18.23.10 \\
          198.19.255.20:198.18.0.20:198.18.1.20:198.18.2.20:198.18.23.20
    pre-up ip tuntap add mode tun tun0
    post-down ip tuntap del mode tun tun0
"""
VIRT = {"g": "198.19.255.1", "a": "198.19.255.10", "b": "198.19.255.20"}


def build(lab: Lab, rate: str = "100mbit", links: int = 4, burst: str = "64kb"):
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
    text = SEED.format(address=address)
    if links != 4:   # fewer links: drop tables and hops from the end, keep the shared segment
        tables = " ".join(str(10000 + i) for i in range(links))
        text = text.replace("table 10000 10001 10002 10003", f"table {tables}")
        for host in ("10", "20"):
            hops = ":".join([f"198.18.{i}.{host}" for i in range(links - 1)] + [f"198.18.23.{host}"])
            old = f"198.19.255.{host}:198.18.0.{host}:198.18.1.{host}:198.18.2.{host}:198.18.23.{host}"
            text = text.replace(old, f"198.19.255.{host}:{hops}")
        text = text.replace("198.18.23.1:198.18.23.1:198.18.23.1 ", "198.18.23.1 ")
    return text

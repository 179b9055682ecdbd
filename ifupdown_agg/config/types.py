"""Value parsers for stanza options.

Each parser takes an option's whole value (ifupdown has already joined its
continuation lines) and returns a typed value, or raises TokenError naming the
one token that is wrong. Parsers carry a `metavar` for help and man pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

import netaddr

from ifupdown_agg.errors import TokenError

# Tables the kernel reserves: unspec, default, main, local.
RESERVED_TABLES = {0: "unspec", 253: "default", 254: "main", 255: "local"}


def is_decimal(tok: str) -> bool:
    """ASCII digits, and few enough for int(): str.isdigit() takes '1²' and '١',
    which int() refuses or reads, and 100,000 digits pass it too."""
    return 0 < len(tok) <= 12 and tok.isascii() and tok.isdigit()


@dataclass(frozen=True)
class RspecEntry:
    """One host of the overlay: its virtual address and its next hop per table."""

    virt: str
    hops: Tuple[str, ...]
    # Per hop, the NIC of a link-local one (inet6's [fe80::X%NIC]): the NIC, on the host
    # whose entry this is, that holds the address; None for any other hop. () for none.
    nics: Tuple[Optional[str], ...] = ()

    def index_for(self, table_index: int) -> int:
        # A host with fewer hops than tables reuses its hops in order.
        return table_index % len(self.hops)

    def hop_for(self, table_index: int) -> str:
        return self.hops[self.index_for(table_index)]

    def nic_at(self, index: int) -> Optional[str]:
        """The NIC of hop `index` when it is link-local, else None."""
        return self.nics[index] if self.nics else None

    def learns(self, index: int) -> bool:
        """Hop `index` is learned (inet6's [eth1]): its address is "" and its NIC named."""
        return not self.hops[index] and self.nic_at(index) is not None

    def written(self, index: int) -> str:
        """Hop `index` as the rspec writes it (fe80::10%eth1, fd99::10, eth1 if learned)."""
        nic = self.nic_at(index)
        if nic and not self.hops[index]:
            return nic
        return f"{self.hops[index]}%{nic}" if nic else self.hops[index]


class ValueType:
    """A named parser: `parse(text)` and the metavar shown in help."""

    def __init__(self, metavar: str, parse: Callable[[str], object], doc: str):
        self.metavar = metavar
        self.parse = parse
        self.doc = doc


def _tokens(value: str) -> List[str]:
    return value.split()


def parse_ipv4(token: str) -> str:
    try:
        # INET_PTON: refuse inet_aton shorthands such as "10.1", which netaddr
        # 0.8 would otherwise read as 10.0.0.1.
        return str(netaddr.IPAddress(token, 4, flags=netaddr.INET_PTON))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise TokenError(token, f"'{token}' is not an IPv4 address") from None


def parse_cidr(value: str) -> str:
    toks = _tokens(value)
    if len(toks) != 1:
        raise TokenError(value, "expects one network such as 10.99.255.0/24")
    tok = toks[0]
    addr, slash, plen = tok.partition("/")
    if not slash or not is_decimal(plen) or not 0 <= int(plen) <= 32:
        raise TokenError(tok, f"'{tok}' is not an IPv4 network written ADDRESS/PREFIX")
    parse_ipv4(addr)
    net = netaddr.IPNetwork(tok)
    if net.ip != net.network:
        raise TokenError(tok, f"'{tok}' has host bits set; did you mean {net.network}/{net.prefixlen}?")
    return str(net)


def parse_uint(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        toks = _tokens(value)
        if len(toks) != 1:
            raise TokenError(value, f"expects one number from {lo} to {hi}")
        tok = toks[0]
        if not is_decimal(tok) or not lo <= int(tok) <= hi:
            raise TokenError(tok, f"'{tok}' is not a number from {lo} to {hi}")
        return int(tok)
    return parse


def parse_uint_or_none(lo: int, hi: int) -> Callable[[str], Union[int, None]]:
    number = parse_uint(lo, hi)

    def parse(value: str) -> Union[int, None]:
        return None if value.strip() == "none" else number(value)
    return parse


def parse_table_ids(value: str) -> Tuple[int, ...]:
    toks = _tokens(value)
    if not toks:
        raise TokenError(value, "expects one routing table ID per member link")
    ids: List[int] = []
    for tok in toks:
        if not is_decimal(tok) or not 1 <= int(tok) < 2**32:
            raise TokenError(tok, f"'{tok}' is not a routing table ID (1 to 4294967295)")
        tid = int(tok)
        if tid in RESERVED_TABLES:
            raise TokenError(tok, f"table {tid} is the kernel's '{RESERVED_TABLES[tid]}' table")
        if tid in ids:
            raise TokenError(tok, f"table {tid} is listed twice")
        ids.append(tid)
    return tuple(ids)


def _is_address_like(text: str) -> bool:
    """Digits and dots only (an IPv4 address, however malformed), not a NIC's name."""
    return bool(re.match(r"^[0-9.]+$", text))


def parse_rspec(value: str) -> Tuple[RspecEntry, ...]:
    toks = _tokens(value)
    if not toks:
        raise TokenError(value, "expects one VIRT:HOP[:HOP...] entry per host")
    entries = []
    for tok in toks:
        learned = re.search(r"\[([A-Za-z0-9_.+-]+)\]", tok)
        if learned and not _is_address_like(learned.group(1)):
            raise TokenError(learned.group(0), f"'{learned.group(0)}' is a learned hop (the "
                             "peer's link-local address on that NIC, learned from its hellos): "
                             "only an inet6 stanza's rspec takes it; an inet stanza's hops are "
                             f"IPv4 addresses (in rspec entry '{tok}')")
        if "[" in tok:
            raise TokenError(tok, f"'{tok}' is an IPv6 entry in an inet stanza's rspec "
                             "(families mixed); IPv6 hosts go in an inet6 stanza")
        if "%" in tok:
            raise TokenError(tok, f"'{tok}' names a NIC with '%': only an IPv6 link-local "
                             "hop does, in an inet6 stanza's rspec ([fe80::X%NIC]); an inet "
                             "stanza's hops are IPv4 addresses (families mixed)")
        parts = tok.split(":")
        if len(parts) < 2 or "" in parts:
            raise TokenError(tok, f"'{tok}' is not VIRT:HOP[:HOP...] (a virtual address, then one next hop per table)")
        addrs = []
        for part in parts:
            try:
                addrs.append(parse_ipv4(part))
            except TokenError as err:
                raise TokenError(part, f"{err.reason} (in rspec entry '{tok}')") from None
        entries.append(RspecEntry(addrs[0], tuple(addrs[1:])))
    return tuple(entries)


def parse_weights(value: str) -> Union[str, Tuple[int, ...]]:
    toks = _tokens(value)
    if toks == ["auto"]:
        return "auto"
    if not toks:
        raise TokenError(value, "expects 'auto' or one weight per table")
    weights = []
    for tok in toks:
        if not is_decimal(tok) or not 1 <= int(tok) <= 100000:
            raise TokenError(tok, f"'{tok}' is not a weight (a whole number from 1 to 100000, or 'auto')")
        weights.append(int(tok))
    return tuple(weights)


_CONGCTL = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


def parse_congctl(value: str) -> Union[str, None]:
    toks = _tokens(value)
    if len(toks) != 1:
        raise TokenError(value, "expects one congestion control name, or 'none'")
    tok = toks[0]
    if tok == "none":
        return None
    if not _CONGCTL.match(tok):
        raise TokenError(tok, f"'{tok}' is not a TCP congestion control name (such as cubic, reno, bbr)")
    return tok


def parse_netmask32(value: str) -> int:
    tok = value.strip()
    if is_decimal(tok) and int(tok) <= 32:
        plen = int(tok)
    else:
        try:
            plen = netaddr.IPAddress(parse_ipv4(tok)).netmask_bits()
        except TokenError:
            raise TokenError(tok, f"'{tok}' is not a netmask") from None
    return plen


def parse_address(value: str) -> Tuple[str, Union[int, None]]:
    """ifupdown's `address`: ADDRESS or ADDRESS/PREFIX."""
    tok = value.strip()
    addr, slash, plen = tok.partition("/")
    prefix = None
    if slash:
        if not is_decimal(plen) or int(plen) > 32:
            raise TokenError(tok, f"'{tok}' has a bad prefix length")
        prefix = int(plen)
    return parse_ipv4(addr), prefix


def parse_on_off(value: str) -> bool:
    tok = value.strip()
    if tok not in ("on", "off"):
        raise TokenError(tok, f"'{tok}' is not 'on' or 'off'")
    return tok == "on"


IPV4 = ValueType("ADDRESS", lambda v: parse_ipv4(v.strip()), "an IPv4 address")
ADDRESS = ValueType("ADDRESS[/32]", parse_address, "an IPv4 address")
NETMASK = ValueType("NETMASK", parse_netmask32, "a netmask, dotted or a prefix length")
CIDR = ValueType("NETWORK/PREFIX", parse_cidr, "an IPv4 network")
TABLES = ValueType("ID...", parse_table_ids, "routing table IDs")
RSPEC = ValueType("VIRT:HOP[:HOP...]...", parse_rspec, "overlay hosts")
WEIGHTS = ValueType("auto|WEIGHT...", parse_weights, "per-table weights")
CONGCTL = ValueType("NAME|none", parse_congctl, "a TCP congestion control")
MTU = ValueType("BYTES", parse_uint(68, 65535), "an MTU")
PRIORITY = ValueType("PRIORITY", parse_uint(1, 32765), "an ip rule priority")
def parse_gso(value: str) -> Union[str, int, None]:
    return "auto" if value.strip() == "auto" else parse_uint_or_none(1, 65535)(value)


GSO_SEGS = ValueType("auto|SEGMENTS|none", parse_gso, "a GSO segment limit")


def parse_pace(value: str) -> Union[str, int]:
    word = value.strip()
    return word if word in ("auto", "off") else parse_uint(1, 1_000_000)(value)


PACE = ValueType("auto|off|MBITS", parse_pace, "a rate in Mbit/s, auto or off")
REORDERING = ValueType("PACKETS|none", parse_uint_or_none(3, 300), "a reordering metric")
RTO_MIN = ValueType("MS|none", parse_uint_or_none(5, 1000),
                    "a minimum retransmission timeout in milliseconds")
ON_OFF = ValueType("on|off", parse_on_off, "on or off")
MILLISECONDS = ValueType("MS", parse_uint(10, 10000), "milliseconds")
IDLE_MILLISECONDS = ValueType("MS", parse_uint(10, 2550), "milliseconds")   # a hello's pace byte
PROBES = ValueType("COUNT", parse_uint(1, 100), "a number of probes")
PORT = ValueType("PORT", parse_uint(1, 65535), "a UDP port")


# ---- bonds (ifenslave's spelling) and USB links ------------------------------------------

_IFNAME = re.compile(r"^[A-Za-z0-9_.:+-]{1,15}$")
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


def parse_ifname_token(tok: str) -> str:
    if not _IFNAME.match(tok) or tok in (".", ".."):
        raise TokenError(tok, f"'{tok}' is not an interface name (1 to 15 letters, digits, '_.:+-')")
    return tok


def parse_ifname(value: str) -> str:
    toks = _tokens(value)
    if len(toks) != 1:
        raise TokenError(value, "expects one interface name")
    return parse_ifname_token(toks[0])


def parse_ifname_list(value: str) -> Tuple[str, ...]:
    """ifenslave's bond-slaves: interface names, or 'none' when the slaves name the bond."""
    toks = _tokens(value)
    if toks == ["none"]:
        return ()
    if not toks:
        raise TokenError(value, "expects interface names, or 'none'")
    if "all" in toks:
        raise TokenError("all", "'all' (every eth* device) is not supported: name the slaves")
    names: List[str] = []
    for tok in toks:
        if parse_ifname_token(tok) in names:
            raise TokenError(tok, f"'{tok}' is listed twice")
        names.append(tok)
    return tuple(names)


def choice(names: Tuple[str, ...], numbers: bool = True) -> Callable[[str], str]:
    """One of `names`; ifenslave also accepts a name's position as a number."""
    def parse(value: str) -> str:
        toks = _tokens(value)
        if len(toks) != 1:
            raise TokenError(value, f"expects one of {', '.join(names)}")
        tok = toks[0]
        if numbers and is_decimal(tok) and int(tok) < len(names):
            return names[int(tok)]
        if tok not in names:
            raise TokenError(tok, f"'{tok}' is not one of {', '.join(names)}")
        return tok
    return parse


def parse_mac(value: str) -> str:
    toks = _tokens(value)
    if len(toks) != 1 or not _MAC.match(toks[0]):
        tok = toks[0] if len(toks) == 1 else value
        raise TokenError(tok, f"'{tok}' is not a MAC address such as 02:00:00:00:00:01")
    mac = toks[0].lower()
    if int(mac[:2], 16) & 1:
        raise TokenError(toks[0], f"'{toks[0]}' is a multicast MAC (the first octet is odd)")
    return mac


def parse_mac_or_auto(value: str) -> str:
    return "auto" if value.strip() == "auto" else parse_mac(value)


def parse_ipv4_list(value: str) -> Tuple[str, ...]:
    """bond-arp-ip-target: up to 16 addresses, separated by spaces or commas."""
    toks = value.replace(",", " ").split()
    if not toks:
        raise TokenError(value, "expects one or more IPv4 addresses")
    if len(toks) > 16:
        raise TokenError(toks[16], "the kernel takes at most 16 ARP targets")
    return tuple(parse_ipv4(t) for t in toks)


def parse_hex16(value: str) -> int:
    tok = value.strip()
    try:
        number = int(tok, 16)
    except ValueError:
        raise TokenError(tok, f"'{tok}' is not a hexadecimal number such as 0x1d6b") from None
    if not 0 <= number <= 0xFFFF:
        raise TokenError(tok, f"'{tok}' does not fit in 16 bits")
    return number


def parse_usb_match(value: str) -> Tuple[str, str]:
    """How to recognise a USB network device: mac MAC, serial TEXT or path ID_PATH."""
    toks = _tokens(value)
    if len(toks) != 2 or toks[0] not in ("mac", "serial", "path"):
        raise TokenError(toks[0] if toks else value,
                         "expects 'mac MAC', 'serial SERIAL' or 'path ID_PATH'")
    kind, what = toks
    if kind == "mac":
        what = parse_mac(what)
    elif not re.match(r"^[A-Za-z0-9_.:+-]+$", what):
        raise TokenError(what, f"'{what}' has characters a udev match cannot hold")
    return kind, what


def parse_udc(value: str) -> str:
    toks = _tokens(value)
    if len(toks) != 1 or not re.match(r"^[A-Za-z0-9_.:+-]{1,64}$", toks[0]):
        raise TokenError(toks[0] if toks else value,
                         f"'{value.strip()}' is not 'auto' or a name from /sys/class/udc")
    return toks[0]


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
              "balance-tlb", "balance-alb")
IFNAME = ValueType("IFACE", parse_ifname, "an interface name")
IFNAMES = ValueType("IFACE...|none", parse_ifname_list, "interface names")
MAC_ADDR = ValueType("MAC", parse_mac, "a MAC address")
MAC_OR_AUTO = ValueType("auto|MAC", parse_mac_or_auto, "a MAC address, or auto")
IPV4_LIST = ValueType("ADDRESS...", parse_ipv4_list, "IPv4 addresses")
HEX16 = ValueType("0xHHHH", parse_hex16, "a 16-bit hexadecimal number")
UDC = ValueType("auto|UDC", parse_udc, "a USB device controller")
USB_MATCH = ValueType("mac MAC|serial SERIAL|path ID_PATH", parse_usb_match, "a USB device match")
SECONDS_MS = ValueType("MS", parse_uint(0, 2**31 - 1), "milliseconds")
COUNT = ValueType("COUNT", parse_uint(0, 2**31 - 1), "a count")
PACKETS_PER_SLAVE = ValueType("COUNT", parse_uint(0, 65535), "a packet count")
LP_INTERVAL = ValueType("SECONDS", parse_uint(1, 2**31 - 1), "seconds")
SMALL_COUNT = ValueType("COUNT", parse_uint(0, 255), "a count")
BIT = ValueType("0|1", parse_uint(0, 1), "0 or 1")
SYS_PRIO = ValueType("PRIORITY", parse_uint(1, 65535), "a LACP system priority")
PORT_KEY = ValueType("KEY", parse_uint(0, 1023), "a LACP user port key")


def choices(*names: str, numbers: bool = True) -> ValueType:
    vt = ValueType("|".join(names), choice(tuple(names), numbers), "one of " + ", ".join(names))
    vt.names = tuple(names)         # the kernel's numbering is their order
    return vt


SPREAD = choices("auto", "bpf", "nft", numbers=False)

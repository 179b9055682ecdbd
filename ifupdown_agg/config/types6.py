"""Value parsers for an overlay's inet6 stanza (iface tunN inet6 static).

The rows are the overlay's own (overlay/options.py); only the value types of the
options that hold addresses differ by family. IPv6 addresses in an rspec are
written in brackets, `[VIRT]:[HOP1]:[HOP2]`, because ':' separates the entry's
fields: `[fd99:ff::10]:[fd99:0::10]:[fd99:1::10]`. A link-local hop names its NIC,
`[fe80::10%eth1]`: the NIC, on the host whose entry it is, that holds the address (the
entry is the same text on every host; elsewhere the hop is reached on the link of the
same position, see overlay/hops.py). A hop written as a NIC's name, `[eth1]`, is learned:
on the host whose entry it is, its own link-local address on eth1; elsewhere the peer's
link-local address on the link of that position, learned from the peer's hellos
(overlay/learned.py, monitor/learn.py).
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple, Union

import netaddr

from ifupdown_agg.config.types import RspecEntry, ValueType, _tokens, is_decimal, parse_ipv4
from ifupdown_agg.errors import TokenError

LINK_LOCAL = netaddr.IPNetwork("fe80::/10")


def _is_ipv4(token: str) -> bool:
    try:
        parse_ipv4(token)
    except TokenError:
        return False
    return True


def parse_ipv6(token: str) -> str:
    """One IPv6 address, in its compact form; an IPv4 one is named as the wrong family."""
    if _is_ipv4(token):
        raise TokenError(token, f"'{token}' is an IPv4 address; an inet6 stanza takes "
                         "IPv6 addresses only (families mixed)")
    if "%" in token or "/" in token:
        raise TokenError(token, f"'{token}' is not an IPv6 address (no zone or prefix here)")
    try:
        return str(netaddr.IPAddress(token, 6))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise TokenError(token, f"'{token}' is not an IPv6 address") from None


def _prefix(tok: str, plen: str) -> int:
    if not is_decimal(plen):
        raise TokenError(tok, f"'{tok}' has a bad prefix length")
    if int(plen) > 128:
        raise TokenError(tok, f"'{tok}': prefix /{int(plen)} is longer than /128")
    return int(plen)


def parse_address6(value: str) -> Tuple[str, Union[int, None]]:
    """ifupdown's inet6 `address`: ADDRESS or ADDRESS/PREFIX."""
    tok = value.strip()
    addr, slash, plen = tok.partition("/")
    prefix = _prefix(tok, plen) if slash else None
    return parse_ipv6(addr), prefix


def parse_netmask6(value: str) -> int:
    """ifupdown's inet6 `netmask`: a prefix length."""
    tok = value.strip()
    return _prefix(tok, tok)


def parse_cidr6(value: str) -> str:
    toks = _tokens(value)
    if len(toks) != 1:
        raise TokenError(value, "expects one network such as fd99:ff::/64")
    tok = toks[0]
    addr, slash, plen = tok.partition("/")
    if _is_ipv4(addr):
        raise TokenError(tok, f"'{tok}' is an IPv4 network; an inet6 stanza's fakenet "
                         "must be an IPv6 prefix such as fd99:ff::/64")
    if not slash:
        raise TokenError(tok, f"'{tok}' is not an IPv6 network written ADDRESS/PREFIX")
    _prefix(tok, plen)
    parse_ipv6(addr)
    net = netaddr.IPNetwork(tok)
    if net.ip != net.network:
        raise TokenError(tok, f"'{tok}' has host bits set; did you mean {net.network}/{net.prefixlen}?")
    if net in LINK_LOCAL:
        raise TokenError(tok, f"'{tok}' is link-local (fe80::/10): its addresses are never "
                         "routed off a link; take a ULA prefix such as fd99:ff::/64")
    return str(net)


def _split_bracketed(tok: str) -> List[str]:
    """`[a]:[b]:[c]` -> [a, b, c]; a bracket that is not closed names its field."""
    parts: List[str] = []
    rest = tok
    while True:
        if not rest.startswith("["):
            field = rest.split(":")[0]
            if _is_ipv4(field):
                raise TokenError(field, f"'{field}' is an IPv4 address in an inet6 "
                                 f"stanza's rspec entry '{tok}' (families mixed); write "
                                 "every address as [IPv6]")
            raise TokenError(rest or tok, f"'{tok}' is not [VIRT]:[HOP][:[HOP]...] (IPv6 "
                             "addresses in brackets, separated by ':')")
        end = rest.find("]")
        if end < 0:
            raise TokenError(rest, f"'{rest}' has no closing ']' (in rspec entry '{tok}')")
        parts.append(rest[1:end])
        rest = rest[end + 1:]
        if not rest:
            return parts
        if not rest.startswith(":") or len(rest) == 1:
            raise TokenError(tok, f"'{tok}' is not [VIRT]:[HOP][:[HOP]...]: expected ':' "
                             f"after '[{parts[-1]}]'")
        rest = rest[1:]


# A zone's NIC name as the kernel takes it (dev_valid_name): 1 to 15 bytes, no '/', ':' or
# blank; '%' and brackets would not read back either.
_NIC = re.compile(r"^[A-Za-z0-9_.+-]{1,15}$")


def is_link_local(addr: str) -> bool:
    """fe80::/10: on every IPv6 link, so only a NIC says which one."""
    return netaddr.IPAddress(addr, 6) in LINK_LOCAL


def _hop(part: str, entry: str) -> Tuple[str, Optional[str]]:
    """One hop of an entry: (address, its NIC if link-local). `fe80::10%eth1` is a
    link-local hop and the NIC, on the host whose entry it is, that holds it."""
    addr, pct, nic = part.partition("%")
    where = f"(in rspec entry '{entry}')"
    if not part:
        raise TokenError(entry, f"'{entry}' has empty brackets '[]' {where}; write a hop "
                         "[ADDRESS], [fe80::X%NIC], or [NIC] to learn it from hellos")
    if not pct and ":" not in part and not _is_ipv4(part) and not part[0].isdigit():
        if not _NIC.match(part) or part in (".", ".."):
            raise TokenError(part, f"'{part}' is not a NIC name (1 to 15 letters, digits, "
                             f"'_.+-') nor an IPv6 address {where}")
        return "", part     # learned: the peer's link-local address on that link
    if pct and _is_ipv4(addr):
        raise TokenError(part, f"'{part}' is an IPv4 address with a %NIC in an inet6 "
                         f"stanza's rspec (families mixed) {where}; write [fe80::X%NIC]")
    if pct and not addr:
        raise TokenError(part, f"'{part}' has a NIC but no address before the '%' {where}")
    try:
        addr = parse_ipv6(addr)
    except TokenError as err:
        raise TokenError(part or entry, f"{err.reason} {where}") from None
    local = is_link_local(addr)
    if pct and not nic:
        raise TokenError(part, f"'{part}' has '%' but no NIC after it {where}; write "
                         f"[{addr}%NIC], the NIC that holds it on the host whose entry this is")
    if pct and not local:
        raise TokenError(part, f"'{part}': only a link-local (fe80::/10) hop names its NIC "
                         f"{where}; write [{addr}]")
    if pct and (not _NIC.match(nic) or nic in (".", "..")):
        raise TokenError(part, f"'{nic}' in '{part}' is not a NIC name (1 to 15 letters, "
                         f"digits, '_.+-') {where}")
    if local and not pct:
        raise TokenError(part, f"'{part}' is a link-local address, on every link {where}: "
                         f"write [{addr}%NIC], the NIC that holds it on the host whose entry "
                         "this is")
    return addr, nic or None


def parse_rspec6(value: str) -> Tuple[RspecEntry, ...]:
    toks = _tokens(value)
    if not toks:
        raise TokenError(value, "expects one [VIRT]:[HOP][:[HOP]...] entry per host")
    entries = []
    for tok in toks:
        parts = _split_bracketed(tok)
        if len(parts) < 2:
            raise TokenError(tok, f"'{tok}' is not [VIRT]:[HOP][:[HOP]...] (a virtual "
                             "address, then one next hop per table)")
        if parts[0] and ":" not in parts[0] and _NIC.match(parts[0]) \
                and not _is_ipv4(parts[0]) and not parts[0][0].isdigit():
            raise TokenError(parts[0], f"'{parts[0]}': the virtual address cannot be "
                             f"learned (in rspec entry '{tok}'); the first field is [VIRT], "
                             "an address of the fake net; only hops take [NIC]")
        if "%" in parts[0]:
            raise TokenError(parts[0], f"'{parts[0]}': the virtual address takes no %NIC "
                             f"(in rspec entry '{tok}'); it is the first field, [VIRT]")
        try:
            virt = parse_ipv6(parts[0])
        except TokenError as err:
            raise TokenError(parts[0] or tok, f"{err.reason} (in rspec entry '{tok}')") from None
        hops = [_hop(part, tok) for part in parts[1:]]
        nics = tuple(nic for _, nic in hops)
        entries.append(RspecEntry(virt, tuple(a for a, _ in hops),
                                  nics if any(nics) else ()))
    return tuple(entries)


ADDRESS6 = ValueType("ADDRESS[/128]", parse_address6, "an IPv6 address")
NETMASK6 = ValueType("PREFIXLEN", parse_netmask6, "a prefix length")
CIDR6 = ValueType("NETWORK/PREFIX", parse_cidr6, "an IPv6 network")
RSPEC6 = ValueType("[VIRT]:[HOP][:[HOP]...]...", parse_rspec6,
                   "overlay hosts, IPv6; a link-local hop names its NIC: [fe80::X%NIC], "
                   "or [NIC] to learn it from hellos")

"""The monitor's hot loop: every path's hello out once per interval, every
datagram in as it arrives.

At 32 peers x 4 links and 50 ms this runs 2560 times a second each way, so
everything per hello is looked up once, outside the loop: each path's socket
method and address tuple, the keyed MAC state (copied per hello, never keyed
again), the struct. The monitor waits on one epoll for every socket and reads
each ready socket empty (bounded), so a monitor that was kept from running
catches up in one wake instead of one wake per datagram; the kernel's arrival
stamp (SO_TIMESTAMPNS) dates each hello. Each member NIC's hellos leave in one
sendmmsg (monitor/mmsg.py), with one sendto per hello where that is not to be had.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, List, Optional, Set, Tuple

from ifupdown_agg.monitor import mmsg, probe
from ifupdown_agg.monitor.health import DOWN, DRAINED, Tracker

_IP, _IP_TTL = probe.socket.IPPROTO_IP, probe.socket.IP_TTL
_IP6, _HOPLIMIT = probe.socket.IPPROTO_IPV6, probe.IPV6_HOPLIMIT
_SOL, _STAMPNS = probe.socket.SOL_SOCKET, probe.SO_TIMESTAMPNS
_TIMESPEC = probe.struct.Struct("=qq")
_ORDER = sys.byteorder
READ_MAX = 512          # datagrams per socket per wake; the rest at the next (level-triggered)


def ancillary(anc) -> Tuple[int, int]:
    """(TTL or hop limit, CLOCK_REALTIME arrival ns) from recvmsg's control data:
    probe._ancillary for the two messages our sockets ask for, without its general
    checks."""
    ttl, stamp = -1, 0
    for level, kind, value in anc:
        if (kind == _IP_TTL and level == _IP) or (kind == _HOPLIMIT and level == _IP6):
            ttl = int.from_bytes(value[:4], _ORDER)
        elif kind == _STAMPNS and level == _SOL and len(value) == 16:
            sec, nsec = _TIMESPEC.unpack(value)
            stamp = sec * 1_000_000_000 + nsec
        else:
            return probe._ancillary(anc)
    return ttl, stamp


def _sendto(entry, payload: bytes) -> None:
    """One hello by sendto, to the path of an Exchange.out entry."""
    try:
        entry[1](payload, entry[2])
    except OSError:
        pass        # a dead link refuses or drops; the missing answer says so


class Exchange:
    def __init__(self, tracker: Tracker, sockets: probe.Sockets, virt: str,
                 signer: probe.Signer, batched: bool = True):
        self.tracker, self.sockets, self.virt = tracker, sockets, virt
        self.stray: Dict[str, int] = {}     # rejected hellos from no known path, by why
        self.set_signer(signer)
        # The hellos' version and layout follow our virtual address's family (an inet6
        # overlay's monitor speaks version 4 only), and so does each path's sendto
        # address (IPv6: with the NIC's ifindex as scope id).
        self.parse = probe.parser_for(virt)
        self.out = [(p, sockets.by_dev[p.dev].sendto, sockets.address(p.dev, p.gateway))
                    for p in tracker.paths]
        self.batches = self._batches(sockets, batched)
        self.extra = getattr(sockets, "extra", {})      # fd -> a socket on ff02::1 (learning)
        self.inbox = {fd: ((self.extra.get(fd) or sockets.by_dev[dev]).recvmsg, dev)
                      for fd, dev in sockets.dev_of.items()}
        self.learn = None       # learned hops (monitor/learn.py): takes good strays
        self.by_key = {p.key: p for p in tracker.paths}
        self.resync()

    def set_signer(self, signer: probe.Signer) -> None:
        self.signer = signer
        self.encode = probe.Encoder(self.virt, signer)
        self.verify = signer if signer.keys is not None else None

    def resync(self) -> None:
        """CLOCK_REALTIME minus CLOCK_MONOTONIC, for the kernel's stamps; once per tick."""
        self.offset_ns = time.time_ns() - time.monotonic_ns()

    def _batches(self, sockets, batched: bool):
        """self.out by member NIC, each with its mmsg.Batch; None: one sendto per hello."""
        groups: Dict[str, list] = {}
        for entry in self.out:
            groups.setdefault(entry[0].dev, []).append(entry)
        made = mmsg.batches([(sockets.by_dev[dev], [addr for _, _, addr in out])
                             for dev, out in groups.items()],
                            probe.SIZE6 if ":" in self.virt else probe.SIZE) if batched else None
        return None if made is None else list(zip(made, groups.values()))

    def send(self, peers: Optional[Set[str]] = None) -> None:
        """One hello on every path (of `peers` only, if given: monitor/demand.py): our
        next sequence number, what we heard there, timing; one sendmmsg per member NIC
        where there is one, else one sendto per path."""
        seq = self.tracker.next_seq()
        if self.batches is None:
            out = self._of(self.out, peers)
            for entry, payload in zip(out, self._hellos(out, seq)):
                _sendto(entry, payload)
            return
        for batch, every in self.batches:
            if peers is None:
                payloads = self._hellos(every, seq)
                batch.send(payloads, lambda i: _sendto(every[i], payloads[i]))
                continue
            indexes = [i for i, entry in enumerate(every) if entry[0].peer in peers]
            if not indexes:
                continue
            out = [every[i] for i in indexes]
            payloads = self._hellos(out, seq)
            if len(out) == len(every):
                batch.send(payloads, lambda i: _sendto(out[i], payloads[i]))
            else:
                batch.send_some(indexes, payloads, lambda j: _sendto(out[j], payloads[j]))

    @staticmethod
    def _of(out, peers: Optional[Set[str]]):
        """The entries of `out` to these peers (all of them: `out` itself)."""
        if peers is None:
            return out
        return [entry for entry in out if entry[0].peer in peers]

    def _hellos(self, out, seq: int) -> List[bytes]:
        """Each path's hello, stamped with the clock as it is made."""
        encode, clock, payloads = self.encode, time.monotonic_ns, []
        down, fast, drain = probe.FLAG_DOWN, probe.FLAG_FAST, probe.FLAG_DRAIN
        for path, _, _ in out:
            now_ns = clock()
            excess = path.rx_excess_us
            payloads.append(encode(path.wire, (down if path.state == DOWN else 0)
                                   | (fast if path.ask else 0)
                                   | (drain if path.drained and not path.drain_held else 0), seq,
                                   path.peer_seq, now_ns, path.echo_t,
                                   (now_ns - path.echo_rx) // 1000 if path.echo_t else 0,
                                   -1 if excess is None else excess, path.pace))
        return payloads

    def announce(self, changes) -> None:
        """tell() the peer of the paths these changes took out, or that we drained."""
        self.tell([c.path for c in changes if c.state == DOWN])
        self.tell([c.path for c in changes if c.state == DRAINED and not c.path.drain_held],
                  probe.FLAG_DRAIN)

    def tell(self, paths, flag: int = probe.FLAG_DOWN) -> None:
        """A hello at once on paths just taken out or drained (BFD sends on a state
        change too), so the peer learns it now, not at our next interval: their
        FLAG_DOWN (or FLAG_DRAIN) rises."""
        if not paths:
            return
        seq = self.tracker.next_seq()
        wanted = {id(p) for p in paths}
        for path, sendto, addr in self.out:
            if id(path) in wanted:
                now_ns = time.monotonic_ns()
                excess = path.rx_excess_us
                try:
                    sendto(self.encode(path.wire, flag | probe.FLAG_FAST, seq,
                                       path.peer_seq, now_ns, path.echo_t,
                                       (now_ns - path.echo_rx) // 1000 if path.echo_t else 0,
                                       -1 if excess is None else excess, path.pace), addr)
                except OSError:
                    pass

    def read(self, fd: int, now: float) -> bool:
        """Every datagram waiting on a ready socket (at most READ_MAX); True if one
        was a peer's first hello."""
        recvmsg, dev = self.inbox[fd]
        newly, offset, space = False, self.offset_ns, probe._CMSG_SPACE
        take = self.take if fd not in self.extra else self.take_learning
        for _ in range(READ_MAX):
            try:
                data, anc, _, addr = recvmsg(128, space)
            except OSError:     # BlockingIOError, or an ICMP error queued on the socket
                return newly
            ttl, stamp = ancillary(anc)
            rx_ns = stamp - offset if stamp else time.monotonic_ns()
            rx = rx_ns / 1e9
            source = addr[0]
            if "%" in source:       # a link-local source comes with its zone: fe80::1%eth1
                source = source[:source.index("%")]
            newly |= take(dev, source, data, ttl, rx if rx < now else now, rx_ns)
        return newly

    def take_learning(self, dev: str, source: str, data: bytes, ttl: int, now: float,
                      rx_ns: int) -> bool:
        """A hello to ff02::1 (monitor/learn.py): it only teaches an unknown hop; a
        path's own hellos are the unicast ones."""
        if ttl == probe.GTSM_TTL and (dev, source) not in self.by_key and self.learn:
            f = self.parse(data, self.verify)
            if type(f) is tuple:
                self.learn(dev, source, f)
        return False

    def take(self, dev: str, source: str, data: bytes, ttl: int, now: float, rx_ns: int) -> bool:
        """Take one datagram, or count why not; only a hello that passed every check
        (TTL or hop limit 255, version, MAC, newer than the last) reaches the path's state."""
        path = self.by_key.get((dev, source))
        if ttl != probe.GTSM_TTL:
            why = "ttl"
        else:
            f = self.parse(data, self.verify)
            if type(f) is tuple:
                if path is not None:
                    return self.tracker.take(path, f, now, rx_ns, data[7])[1]
                why = "source"      # a good hello, but from no path of ours
                if self.learn is not None:
                    self.learn(dev, source, f)
            else:
                why = f
        if path is not None:
            path.reject(why)
        else:
            self.stray[why] = self.stray.get(why, 0) + 1
        return False

"""Learning next hops from hellos: the monitor's half of an rspec hop written `[eth1]`.

A peer whose hop on a link is learned (overlay/learned.py) cannot be sent a unicast hello
until its address is known, so on each NIC where some peer's hop is still unknown the
monitor sends its hello once per interval to the all-nodes group, ff02::1 with that NIC's
scope id (hop limit 255, as every hello), and listens there too (a socket bound to `::`
on the NIC). A hello teaches (peer's virtual address, this NIC) -> its source address when:

- it passed the receiver's checks (hop limit 255, version 4, and with a key file its MAC:
  a hello whose MAC is wrong never gets here);
- its source is link-local (fe80::/10) and its virtual address is a peer of the rspec
  whose hop on the link of this NIC is learned (`[NIC]`), not this host nor a peer whose
  hop there is written;
- no key file: learned all the same (else an unauthenticated cluster could not use the
  form), with a warning for every hop so learned: anyone on the cable could then redirect
  that peer's traffic. ifup warns of an unauthenticated monitor too.

What is learned goes to the learned file, and the routes follow through the planner
(`plan_up` with the learned hops, run and recorded as ifup's are, so ifdown removes them);
then the monitor starts over with the new paths, which it probes by unicast as written
hops. A learned hop that moves (the peer's NIC replaced) is learned again the same way.
"""

from __future__ import annotations

import logging
from typing import Dict, Optional, Set, Tuple

from ifupdown_agg.monitor import probe
from ifupdown_agg.overlay import learned as learned_hops, plan
from ifupdown_agg.overlay.model import OverlayConfig

log = logging.getLogger("ifupdown-agg")
ALL_NODES = "ff02::1"


def learnable(cfg: OverlayConfig, devs) -> Set[Tuple[str, str]]:
    """(peer's virtual address, this host's NIC) of every learned hop: a peer's hop at
    position j written [NIC] is reached through this host's NIC of position j."""
    out = set()
    for peer in cfg.peers:
        for j in range(len(peer.hops)):
            if peer.learns(j) and j < len(devs):
                out.add((peer.virt, devs[j]))
    return out


def is_link_local(address: str) -> bool:
    return address.lower().startswith(("fe8", "fe9", "fea", "feb"))


def accept(wanted: Set[Tuple[str, str]], learned: Dict[Tuple[str, str], str], mine: str,
           dev: str, source: str, virt: str) -> Optional[str]:
    """Why a checked hello teaches nothing, or None if it teaches (virt, dev) -> source.
    Pure: the rule of this module's docstring, the MAC already checked by the caller."""
    if virt == mine:
        return "our own"
    if (virt, dev) not in wanted:
        return f"{virt} has no learned hop on {dev}"
    if not is_link_local(source):
        return f"source {source} is not link-local"
    if learned.get((virt, dev)) == source:
        return "known"
    return None


class Learning:
    """The monitor's learning: the multicast hellos out, the lessons in."""

    def __init__(self, cfg: OverlayConfig, members, sockets: probe.Sockets,
                 authenticated: bool):
        self.cfg, self.sockets, self.authenticated = cfg, sockets, authenticated
        devs = [m.dev for m in members]
        self.wanted = learnable(cfg, devs)
        self.learned = learned_hops.load(cfg.key) if self.wanted else {}
        self.fresh = False
        self.ignored: Dict[str, int] = {}
        self.seqs: Dict[Tuple[str, str], int] = {}      # the last seq learned from
        # The NICs where some peer's hop is unknown: multicast there. Listen on every NIC
        # of a learned hop: a peer that lost what it learned (a reboot) and whose address
        # moved greets us there, and we would send to its old address for ever.
        self.devs = sorted({d for v, d in self.wanted if (v, d) not in self.learned})
        local = {m.dev: m.local for m in members}
        for dev in sorted({d for _, d in self.wanted}):
            sockets.open(dev, local[dev])
            sockets.listen_any(dev)
        self.out = [(sockets.by_dev[d].sendto, sockets.address(d, ALL_NODES)) for d in self.devs]

    def send(self, encode, tracker) -> None:
        """One hello to ff02::1 on each NIC with an unknown hop: nothing heard yet, the
        sequence number of this interval's unicast hellos (a number more per interval
        would halve the window in which the peers' echoes count as heard)."""
        if not self.out:
            return
        payload = encode(probe.VERSION6, 0, tracker.seq, 0, 0, 0, 0, -1)
        for sendto, addr in self.out:
            try:
                sendto(payload, addr)
            except OSError:
                pass

    def take(self, dev: str, source: str, fields) -> None:
        """A hello that passed every check but came from no path of ours."""
        virt, seq = probe.unpack_virt(fields[4]), fields[5]
        why = accept(self.wanted, self.learned, self.cfg.address, dev, source, virt)
        if why is None and seq <= self.seqs.get((virt, dev), -1):
            why = "replay"      # the MAC covers the hello, not its source address
        if why is None:
            self.seqs[(virt, dev)] = seq
        if why is not None:
            if why != "known":
                self.ignored[why] = self.ignored.get(why, 0) + 1
            return
        old = self.learned.get((virt, dev))
        self.learned[(virt, dev)] = source
        self.fresh = True
        (log.info if self.authenticated else log.warning)(
            "%s: learned the hop of %s on %s: %s%s%s", self.cfg.key, virt, dev, source,
            f" (was {old})" if old else "",
            "" if self.authenticated else " from an UNAUTHENTICATED hello (no key file): "
            "anyone on that link could have sent it")

    def apply(self, kernel) -> None:
        """Keep what was learned, and route it as ifup would (planned, run, recorded)."""
        from ifupdown_agg.core import transaction
        from ifupdown_agg.core.executor import RealExecutor
        learned_hops.save(self.cfg.key, self.learned)
        self.fresh = False

        def planner(obs, made):
            return plan.plan_up(self.cfg, obs, None, made, dict(self.learned))[0]

        transaction.up(self.cfg.key, kernel, RealExecutor(kernel), planner)


def routed_tables(desired_objects, virt: str):
    """The tables that route a peer now (its learned hops not yet known leave some out)."""
    return {o.table for o in desired_objects
            if getattr(o, "gateway", None) and o.dst.split("/")[0] == virt
            and o.table != plan.MAIN_TABLE}


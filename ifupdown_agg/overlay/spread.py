"""How the overlay spreads packets: the BPF spreader's runs, or the nft marking.

Pure. The BPF spreader rotates over a peer's paths by bytes: each path takes a
run that lasts about RUN_SECONDS on its link, so a fast link takes a longer
run and every link's queue sees the same burst time. The GSO limit of the
overlay device then only has to keep one GSO packet within the slowest run;
with nft every GSO packet gets one mark, so there it has to stay near one
segment on slow links (agg-gso-max-segs).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from ifupdown_agg.core.spreader import MAX_PATHS, MAX_PEERS, Spreader

# Measured (bench/results/20261201-spreading-design-study.md): at 2x300 Mbit/s,
# 3 KB runs (80 us) kept one flow at 92% and a bidirectional pair balanced;
# 6-12 KB runs retransmitted 5x more.
RUN_SECONDS = 80e-6
UNKNOWN_RUN = 12_000        # bytes, for the largest weight when link rates are unknown


def choose(wanted: str, program: Optional[str], tables: int, peers: int) -> Tuple[str, str, str]:
    """(bpf or nft, a note when auto did not take bpf, an error when bpf was asked
    for and cannot be had)."""
    if wanted == "nft":
        return "nft", "", ""
    if not program:
        why = "the BPF spreader (spread.bpf.o) is not installed or cannot be loaded here"
    elif tables > MAX_PATHS or peers >= MAX_PEERS:
        why = f"the BPF spreader takes at most {MAX_PATHS} tables and {MAX_PEERS - 1} peers"
    else:
        return "bpf", "", ""
    if wanted == "bpf":
        return "bpf", "", why + "; set agg-spread nft (or auto)"
    return "nft", f"agg-spread auto: {why}, so nftables marks every packet (more CPU per byte)", ""


PACED_GSO = 64     # the overlay device's GSO cap behind the pacing hop: full GSO packets
# auto paces up to this summed rate. Every segment still crosses the hop (a veth pass,
# the tbf, a redirect), and the hop's tbf must release a frame every 12000/rate us on
# time: pacing at the sum only helps while the members really deliver that sum.
# Interleaved on one machine (bench/results/20261204-pace-limit.md, one flow and
# --bidir, serialised links): 3x100 paced 286 Mbit/s, 0 retransmits, bidir 247-255 /
# 236-267 (unpaced 281-285, 443-871 retr., 238-252 / 240-241); 4x100 and 2x200 a wash
# at 1.5x the CPU (4x100 bidir 212-265 against 299-330); 2x300 a cliff: 294-353
# against 563-568 unpaced (the members gave 286 of 300 each, below the hop's 600).
# An earlier machine had 2x300 paced at 567-569 (20261202-pacing-hop.md): the cliff
# moves with the machine's timers, so auto keeps well below it.
PACE_AUTO_MAX = 300
# Bookworm's own kernel is 6.1: said once in the plan, not as a warning at every ifup.
NO_TCX = "this kernel has no tcx (Linux 6.6) for the hop"
NO_HOP = "GSO packets forwarded or tunnelled over the overlay also leave whole on one link"


def pace(wanted, mode: str, rates: Sequence[Optional[int]], tcx: bool) -> Tuple[int, str, str]:
    """(the pacing rate in Mbit/s, 0 for none; the plan's note; an error when a rate
    was asked for and cannot be had). Measured at 2x300 serialised, one flow
    (bench/results/20261202-pacing-hop.md): paced 567-569 Mbit/s with 0-1 spurious
    retransmits per 5 s, unpaced 524-571 with 139-315."""
    if wanted == "off" or (wanted == "auto" and mode != "bpf"):
        return 0, "", ""        # agg-spread's own note says why not bpf
    why = ("the bpf spreader is not in use" if mode != "bpf" else
           NO_TCX if not tcx else
           "a member NIC's rate is unknown" if wanted == "auto" and not all(rates) else
           f"the links' sum {sum(rates)} Mbit/s is above {PACE_AUTO_MAX}, where pacing measured "
           "no faster, at more CPU, and far slower where the members fell short of their sum "
           "(agg-pace MBITS paces anyway)"
           if wanted == "auto" and sum(rates) > PACE_AUTO_MAX else "")  # type: ignore[arg-type]
    if why and wanted != "auto":
        return 0, "", f"cannot pace: {why}; set agg-pace auto or off"
    if why:
        return 0, f"agg-pace auto: not paced, {why}" + (f"; {NO_HOP}" if why == NO_TCX else ""), ""
    rate = wanted if wanted != "auto" else sum(rates)      # type: ignore[arg-type]
    basis = "as written" if wanted != "auto" else "the member NICs' summed rate"
    return int(rate), (f"agg-pace: every packet takes the pacing hop at {rate} Mbit/s ({basis}); "
                       f"agg-gso-max-segs auto: {PACED_GSO}, segmented in the hop"), ""


def top_run(rates: Sequence[Optional[int]]) -> int:
    """The run of the fastest path, in bytes: RUN_SECONDS of its link."""
    if not rates or not all(rates):
        return UNKNOWN_RUN
    return max(1, int(max(rates) * 1e6 * RUN_SECONDS / 8))      # type: ignore[type-var]


def runs(weights: Sequence[int], top: int) -> List[int]:
    """Run bytes per path, in proportion to the weights; 0 keeps a path out."""
    heaviest = max(weights, default=0)
    if heaviest <= 0:
        return [0] * len(weights)
    return [max(1, round(w * top / heaviest)) if w > 0 else 0 for w in weights]


def explain(devs: Sequence[str], rates: Sequence[Optional[int]], path_runs: Sequence[int],
            gso: int, gso_why: str) -> str:
    """The plan's note on what agg-spread and agg-gso-max-segs auto chose, and why."""
    per_link = ", ".join(f"{d} {r} B" + (f" ({rate} Mbit/s)" if rate else "")
                         for d, rate, r in zip(devs, rates, path_runs))
    basis = ("about 80 us of each link" if all(rates)
             else f"link rates unknown, {UNKNOWN_RUN} B for the heaviest weight")
    return (f"agg-spread bpf: weights of {per_link} ({basis}); agg-gso-max-segs auto: {gso}, "
            + gso_why)


def meters(devs: Sequence[str], rates: Sequence[Optional[int]], tcx: bool) -> Tuple[Tuple[str, int], ...]:
    """The member NICs whose queues the spreader meters: all of them when every rate is
    known and tcx can attach the meter (Linux 6.6), else none. Measured at 3x200
    serialised beside a 100 Mbit/s UDP stream on link 0: one flow at 93% of what the
    stream leaves, 66% without (bench/results/20261203-queue-aware.md)."""
    if not tcx or not rates or not all(rates):
        return ()       # an unmetered path would look empty beside the metered ones
    return tuple(sorted({(d, int(r)) for d, r in zip(devs, rates)}))  # type: ignore[arg-type]


# GSO packets the overlay did not build (forwarded from a container bridge, a VXLAN to
# a peer's overlay address, #18) go through the segmenting hop, a veth pass for every
# segment, so that they spread per segment. One pod flow in VXLAN, as % of the overlay's
# own flow in the same run (bench/results/20261204T184040Z-pods.md, 20261204T194620Z-pods.md,
# 20261202T100917Z-pods.md): at 3x200 the hop gave 77-84% (BBR, cubic; two runs) against
# 65-72% whole; at 2x500 whole gave 89% and 70% against the hop's 68% and 63% (12-02:
# 64%/64% against 59%/57%), and interleaved with a copy that always segments
# (20261204-whole-gso.md) 455-484 and 417-476 Mbit/s against 377-406 and 379-415, at less
# CPU per Gbit. A 64 KB burst takes about 1 ms on a 500 Mbit/s member and 2.6 ms on a
# 200: from this slowest rate up, such packets leave whole.
WHOLE_GSO_MIN = 400


def whole_gso(rates: Sequence[Optional[int]], paced: int, tcx: bool) -> Tuple[bool, str]:
    """(GSO packets built elsewhere leave whole, no segmenting hop; the plan's note)."""
    if paced or not tcx or not rates or not all(rates):
        return False, ""        # pacing needs the hop; without tcx there is none anyway
    slowest = min(rates)        # type: ignore[type-var]
    if slowest < WHOLE_GSO_MIN:
        return False, ""
    return True, (f"GSO packets forwarded or tunnelled over the overlay leave whole on one "
                  f"link (no segmenting hop): its slowest member carries {slowest} Mbit/s, "
                  f"at least {WHOLE_GSO_MIN}, where segmenting them cost more than the "
                  "reordering it saved")


def spreader(iface: str, peer_paths: Dict[Tuple[int, str], List[Tuple[str, str]]],
             weights: Sequence[int], top: int, program: Optional[str], paced: int = 0,
             metered: Sequence[Tuple[str, int]] = (), whole: bool = False) -> Spreader:
    """The spreader for every peer; `peer_paths` maps (rspec index, address) to
    [(member NIC, gateway)] in table order."""
    path_runs = runs(weights, top)
    peers = tuple((virt, index, tuple((dev, gw, run) for (dev, gw), run in zip(paths, path_runs)))
                  for (index, virt), paths in sorted(peer_paths.items()))
    return Spreader(iface, peers, paced, program or "", meters=tuple(metered), whole_gso=whole)


def device_mtu(mode: str, iface: str, current: Optional[int],
               member_mtus: Sequence[Optional[int]]) -> Tuple[Optional[int], str]:
    """(the overlay device's MTU, a note) with bpf; None leaves the MTU alone.

    With bpf a packet leaves a member NIC as TCP built it for the overlay
    device, so that device's MTU must not exceed the smallest member's (nft
    routes each packet again, through the member, whose MTU then applies)."""
    if mode != "bpf" or not member_mtus or not all(member_mtus):
        return None, ""
    smallest = min(member_mtus)                     # type: ignore[type-var]
    if (current or 1500) <= smallest:
        return None, ""
    return smallest, (f"{iface} MTU {current or 1500} is above the smallest member NIC's "
                      f"({smallest}); with agg-spread bpf it is lowered to {smallest}")


def overlay_mtu(wanted: Optional[int], iface: str, obs, devs: Sequence[str], notes: List[str],
                mode: str) -> Optional[int]:
    """The overlay device's MTU: the stanza's, capped for bpf (device_mtu's note into notes)."""
    tun = obs.links.get(iface)
    mtu, note = device_mtu(mode, iface, wanted or (tun.mtu if tun else None),
                           [obs.links[d].mtu for d in devs])
    notes += [note] if note else []
    return wanted if mtu is None else mtu

"""Issue #14's targets read against one bench/datapath.py run (its cells, as written to
the .json): a verdict per cell and target, so a results file says what it meets and
what it misses without a reader doing the arithmetic.

The targets, all in the same run and at the defaults (the `overlay-bpf` competitor):
one flow >= 95% of the links' sum on equal links, >= 90% on unequal ones; each direction
of `--bidir` >= 90%; ahead of MPTCP; never below the best single link; CPU per Gbit
within 1.3x of the single link's. Where the single link itself falls short of its rate,
this machine limits every competitor: the cell says so, and there the competitors are
to be compared with each other rather than with the sum. "Short" is below 90%: TCP's
payload in a 1514-byte frame is 95.6% of the link's rate, so a link that delivers 94%
is at its ceiling (and the 95% target for one flow sits 0.6 points below it).

Pure: no namespaces, no root; tests/test_bench_datapath.py reads it on made-up cells.
"""

from __future__ import annotations

from typing import List, Optional

OVERLAY = "overlay-bpf"
ONE_EQUAL, ONE_UNEQUAL, BIDIR_EACH, CPU_RATIO, SINGLE_REACHES = 0.95, 0.90, 0.90, 1.3, 0.90


def mode_of(row: dict) -> str:
    """A result row's mode: one flow, `--bidir`, or both ways by two processes (rows
    written before that mode have no 'processes')."""
    return "two" if row.get("processes", 1) == 2 else ("bidir" if row["bidir"] else "one")


def _median(row: Optional[dict], field: str) -> Optional[float]:
    stat = row.get(field) if row else None
    return stat["median"] if stat else None


def _mark(ok: Optional[bool]) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def cell_verdicts(cell: dict) -> dict:
    """{target: (what was measured, met True/False, or None where it does not apply)}
    for one cell, and 'machine': why this machine limits the cell, or ''."""
    rates, total = cell["rates"], sum(cell["rates"])
    by = {(r["competitor"], mode_of(r)): r for r in cell["results"]}
    one = _median(by.get((OVERLAY, "one")), "fwd")
    fwd, rev = (_median(by.get((OVERLAY, "bidir")), f) for f in ("fwd", "rev"))
    t_fwd, t_rev = (_median(by.get((OVERLAY, "two")), f) for f in ("fwd", "rev"))
    m_one = _median(by.get(("mptcp", "one")), "fwd")
    m_fwd, m_rev = (_median(by.get(("mptcp", "bidir")), f) for f in ("fwd", "rev"))
    mt_fwd, mt_rev = (_median(by.get(("mptcp", "two")), f) for f in ("fwd", "rev"))
    single = _median(by.get(("single-link", "one")), "fwd")
    cpu, s_cpu = (_median(by.get((k, "one")), "cpu_s_per_gbit") for k in (OVERLAY, "single-link"))
    out: dict = {"machine": ""}
    if one is None:
        return out
    goal = ONE_EQUAL if len(set(rates)) == 1 else ONE_UNEQUAL
    if total:
        out["one flow"] = (f"{one / total:.1%} (>= {goal:.0%})", one >= goal * total)
    if total and fwd is not None:
        worse = min(fwd, rev)
        out["bidir each way"] = (f"{fwd / total:.1%} / {rev / total:.1%} (>= {BIDIR_EACH:.0%})",
                                 worse >= BIDIR_EACH * total)
    if total and t_fwd is not None:
        mptcp = f"; MPTCP {mt_fwd:.0f}/{mt_rev:.0f}" if mt_fwd is not None else ""
        out["two processes each way"] = (
            f"{t_fwd / total:.1%} / {t_rev / total:.1%} (>= {BIDIR_EACH:.0%}){mptcp}",
            min(t_fwd, t_rev) >= BIDIR_EACH * total)
    if m_one is not None:
        ahead = one >= m_one and (fwd is None or m_fwd is None
                                  or (fwd >= m_fwd and rev >= m_rev))
        bidir = f"; bidir {fwd:.0f}/{rev:.0f} vs {m_fwd:.0f}/{m_rev:.0f}" if fwd is not None and m_fwd is not None else ""
        out["ahead of MPTCP"] = (f"{one:.0f} vs {m_one:.0f}{bidir}", ahead)
    if single is not None:
        out["not below the best link"] = (f"{one:.0f} vs {single:.0f}", one >= single)
        best = max(rates)
        if best and single < SINGLE_REACHES * best:
            out["machine"] = f"the single link delivers {single / best:.1%} of its {best} Mbit/s"
    if cpu and s_cpu:
        out["CPU per Gbit"] = (f"{cpu:.2f} vs {s_cpu:.2f}: {cpu / s_cpu:.1f}x (<= {CPU_RATIO}x)",
                               cpu <= CPU_RATIO * s_cpu)
    return out


TARGETS = ["one flow", "bidir each way", "ahead of MPTCP", "not below the best link", "CPU per Gbit"]
TWO = "two processes each way"      # only in runs with --two-way


def render(cells: List[dict]) -> List[str]:
    """Markdown lines: a table of every cell against every target, and the count met."""
    judge = [*TARGETS[:2], TWO, *TARGETS[2:]] if any(
        mode_of(r) == "two" for c in cells for r in c["results"]) else TARGETS
    lines = ["## Against #14's targets (the defaults: `overlay-bpf`)", "",
             "| cell | " + " | ".join(judge) + " | this machine |",
             "|---|" + "---|" * (len(judge) + 1)]
    met = judged = 0
    for cell in cells:
        v = cell_verdicts(cell)
        row = []
        for t in judge:
            text, ok = v.get(t, ("", None))
            row.append(f"{text} {_mark(ok)}".strip() if ok is not None else "-")
            judged += ok is not None
            met += bool(ok)
        row.append(f"limits every competitor: {v['machine']}" if v["machine"] else "")
        lines.append(f"| {cell['cell']} | " + " | ".join(row) + " |")
    lines += ["", f"{met} of {judged} verdicts met. Where this machine limits every competitor, "
              "read the cell as a comparison of the competitors with each other.", ""]
    return lines

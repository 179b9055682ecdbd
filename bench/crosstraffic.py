"""Cross traffic on a shared member link (issue #19): run_cross and run_changing.

Three serialised 200 Mbit/s links; other traffic uses link 0 directly, with its
own addresses (198.18.0.10 -> 198.18.0.20), as a backup job or an scp would,
while one flow goes over the overlay (or MPTCP, in the same run).

- cross: the other traffic is one plain TCP flow, or a UDP stream at half the
  link's rate. The overlay's "capacity left" is the links' sum less what the
  other traffic is due: a TCP flow that can only use link 0 is due all of it
  (max-min fairness: the overlay has links 1 and 2), a UDP stream its own rate.
- changing: 60 s of one flow while the other TCP flow switches on and off every
  5 s. Both ends are small Python senders and sinks (below) whose sinks print
  their byte count every 100 ms on CLOCK_MONOTONIC, which every namespace
  shares, so the samples line up with the switching exactly.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from workloads import (OVERLAY_DST, SHAPINGS, Lab, iperf, log, setup_mptcp, setup_overlay,
                       summary, tcp_target, two_hosts)

RATES = [200, 200, 200]
CROSS_SRC, CROSS_DST, CROSS_PORT = "198.18.0.10", "198.18.0.20", 5202
CONDITIONS = ("none", "tcp", "udp")
COMPETITORS = ("overlay", "mptcp")
PERIOD, SAMPLE = 5.0, 0.1

SINK = r"""
import json, socket, sys, threading, time
addr, port, until = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port)); srv.listen(16); srv.settimeout(0.2)
total = [0]
def drain(conn):
    buf = bytearray(1 << 20); conn.settimeout(1.0)
    while time.monotonic() < until:
        try:
            n = conn.recv_into(buf)
        except OSError:
            n = 0 if time.monotonic() >= until else -1
        if n == 0:
            break
        total[0] += max(n, 0)
    conn.close()
def accept():
    while time.monotonic() < until:
        try:
            conn, _ = srv.accept()
        except OSError:
            continue
        threading.Thread(target=drain, args=(conn,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
print("listening", flush=True)
nxt = time.monotonic()
while nxt < until:
    nxt += 0.1
    time.sleep(max(0.0, nxt - time.monotonic()))
    print(json.dumps([time.monotonic(), total[0]]), flush=True)
"""

SENDER = r"""
import socket, sys, time
end = time.monotonic() + float(sys.argv[3])
src = sys.argv[4] if len(sys.argv) > 4 else ""
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5,
                                source_address=(src, 0) if src else None)
buf = bytes(1 << 16)
while time.monotonic() < end:
    try:
        sock.sendall(buf)
    except OSError:
        break
sock.close()
"""


# ---- cross: static other traffic -------------------------------------------------------------

def _cross_args(condition: str, seconds: float):
    extra = ["-B", CROSS_SRC, "-O", "1"]
    if condition == "udp":
        extra += ["-u", "-b", f"{RATES[0] // 2}M", "-l", "1400"]
    return extra


def _other_rate(data: dict, condition: str) -> float:
    end = data.get("end", {})
    if condition == "udp":
        s = end.get("sum", {})
        lost = s.get("lost_percent")
        return s.get("bits_per_second", 0) * (1 - (100 if lost is None else lost) / 100) / 1e6
    return end.get("sum_received", {}).get("bits_per_second", 0) / 1e6


def _together(lab, a, b, kind: str, condition: str, seconds: float):
    """The measured flow (overlay or MPTCP) and the other traffic at the same time."""
    from concurrent.futures import ThreadPoolExecutor
    dst, prefix, bind = tcp_target(kind, RATES)
    with ThreadPoolExecutor(2) as pool:
        main = pool.submit(iperf, lab, b, a, dst, seconds, ["-O", "1"], prefix, bind)
        other = None
        if condition != "none":
            other = pool.submit(iperf, lab, b, a, CROSS_DST, seconds, _cross_args(condition, seconds),
                                port=CROSS_PORT)
        data = main.result()
        rate = data.get("end", {}).get("sum_received", {}).get("bits_per_second", 0) / 1e6
        return rate, (_other_rate(other.result(), condition) if other else None)


def run_cross(args) -> dict:
    log(f"== cross traffic on link 0: {'+'.join(map(str, RATES))} Mbit/s serialised")
    runs = {(k, c): [] for k in COMPETITORS for c in CONDITIONS}
    others = {(k, c): [] for k in COMPETITORS for c in CONDITIONS if c != "none"}
    alone = {c: [] for c in CONDITIONS if c != "none"}
    with Lab("bench") as lab:
        a, b = two_hosts(lab, RATES, SHAPINGS["serialised"])
        setup_overlay(a, b, RATES)
        setup_mptcp(a, b, RATES)
        time.sleep(1.5)      # the monitors exchange hellos (and, adaptive, settle)
        for rep in range(args.reps):
            for c in alone:   # the other traffic by itself: what it gets without us
                alone[c].append(_other_rate(iperf(lab, b, a, CROSS_DST, args.seconds,
                                                  _cross_args(c, args.seconds), port=CROSS_PORT), c))
            for c in CONDITIONS:
                for kind in COMPETITORS:         # interleaved: the same noise for all
                    rate, other = _together(lab, a, b, kind, c, args.seconds)
                    runs[(kind, c)].append(rate)
                    if other is not None:
                        others[(kind, c)].append(other)
                    log(f"  rep {rep + 1}: {c:<4} {kind:<8} {rate:6.1f} Mbit/s"
                        + (f", other traffic {other:6.1f}" if other is not None else ""))
        for h in (a, b):
            h.ifdown("tun0", check=False)
    rows = []
    for c in CONDITIONS:
        due = {"none": 0, "tcp": RATES[0], "udp": RATES[0] // 2}[c]
        row = {"condition": c, "left_mbps": sum(RATES) - due, "due_mbps": due,
               "alone": summary(alone[c]) if c in alone else None}
        for kind in COMPETITORS:
            row[kind] = summary(runs[(kind, c)])
            row[kind + "_other"] = summary(others[(kind, c)]) if c != "none" else None
        rows.append(row)
    return {"rates": RATES, "design": args.design, "rows": rows}


# ---- changing: the other flow on and off every 5 s -------------------------------------------

def _sink(lab, host, addr: str, port: int, seconds: float, prefix=()):
    proc = lab.spawn(host, list(prefix) + [sys.executable, "-c", SINK, addr, str(port), str(seconds)])
    if proc.stdout.readline().strip() != "listening":
        raise RuntimeError(f"sink on {addr}:{port} did not start: {proc.stderr.read()[-300:]}")
    return proc


def _samples(proc, timeout: float):
    out, _ = proc.communicate(timeout=timeout)
    return [json.loads(ln) for ln in out.splitlines() if ln.startswith("[")]


def _rates(samples):
    """(time at the end of the sample, Mbit/s over it) from cumulative byte counts."""
    return [(t1, (b1 - b0) * 8 / (t1 - t0) / 1e6)
            for (t0, b0), (t1, b1) in zip(samples, samples[1:]) if t1 > t0]


def _changing_once(lab, a, b, kind: str, total: float) -> dict:
    dst, prefix, _ = tcp_target(kind, RATES)
    dst = OVERLAY_DST if kind == "overlay" else dst
    main_sink = _sink(lab, b, dst, 5301, total + 1, prefix)
    cross_sink = _sink(lab, b, CROSS_DST, CROSS_PORT, total + 1)
    sender = lab.spawn(a, list(prefix) + [sys.executable, "-c", SENDER, dst, "5301", str(total)])
    t0 = time.monotonic()
    switches = []
    for k in range(1, int(total // PERIOD)):     # bounded: 11 switches in 60 s
        at = t0 + k * PERIOD
        time.sleep(max(0.0, at - time.monotonic()))
        switches.append((time.monotonic(), k % 2 == 1))
        if k % 2 == 1:                           # on for one period
            lab.spawn(a, [sys.executable, "-c", SENDER, CROSS_DST, str(CROSS_PORT),
                          str(PERIOD - 0.02), CROSS_SRC])
    sender.communicate(timeout=total + 30)
    main = _rates(_samples(main_sink, total + 30))
    cross = _rates(_samples(cross_sink, total + 30))
    return {"t0": t0, "switches": switches, "main": main, "cross": cross}


def _adapt_times(run: dict, ref: float):
    """Per switch: seconds until two 100 ms samples in a row are at the new ideal: at least
    90% of it, and when the other flow came on, at most 110% too (more is crowding it out;
    right after the switch the flow still runs at its old rate)."""
    out = []
    left = ref * (sum(RATES) - RATES[0]) / sum(RATES)
    for at, on in run["switches"]:
        ideal = left if on else ref
        window = [(t, r) for t, r in run["main"] if at < t <= at + PERIOD]
        hit = None
        for (t1, r1), (_, r2) in zip(window, window[1:]):
            top = 1.1 * ideal if on else float("inf")
            if 0.9 * ideal <= r1 <= top and 0.9 * ideal <= r2 <= top:
                hit = round(t1 - SAMPLE - at, 2)
                break
        out.append({"at_s": round(at - run["t0"], 2), "on": on, "ideal_mbps": ideal,
                    "adapt_s": None if hit is None else max(0.0, hit)})
    return out


def _changing_summary(run: dict) -> dict:
    t0, ons = run["t0"], [(at, at + PERIOD) for at, on in run["switches"] if on]
    # The flow's own rate alone: every off period, from 1 s after its switch.
    offs = [(t0, t0 + PERIOD)] + [(at, at + PERIOD) for at, on in run["switches"] if not on]
    alone = [r for t, r in run["main"] if any(s + 1 <= t <= e for s, e in offs)]
    ref = statistics.median(alone) if alone else 0.0
    left = ref * (sum(RATES) - RATES[0]) / sum(RATES)
    got, ideal, nominal = [], [], []
    for t, r in run["main"]:
        if t0 + 0.5 <= t <= t0 + 60:
            got.append(r)
            on = any(s < t - SAMPLE / 2 <= e for s, e in ons)
            ideal.append(left if on else ref)
            nominal.append(sum(RATES) - RATES[0] if on else sum(RATES))
    cross_on = [r for t, r in run["cross"] if any(s + 0.5 < t <= e for s, e in ons)]
    return {"ref_mbps": ref, "mean_mbps": statistics.mean(got) if got else 0.0,
            "ideal_mean_mbps": statistics.mean(ideal) if ideal else 0.0,
            "nominal_ideal_mean_mbps": statistics.mean(nominal) if nominal else 0.0,
            "cross_on_mbps": statistics.mean(cross_on) if cross_on else 0.0,
            "switches": _adapt_times(run, ref),
            "trace": [(round(t - t0, 2), round(r, 1)) for t, r in run["main"]],
            "cross_trace": [(round(t - t0, 2), round(r, 1)) for t, r in run["cross"]]}


def run_changing(args) -> dict:
    total = float(args.changing_seconds)
    out = {"rates": RATES, "design": args.design, "seconds": total, "runs": {}}
    for kind in COMPETITORS:
        log(f"== changing cross traffic, {kind}: {total:.0f} s, link 0's other flow on/off every 5 s")
        with Lab("bench") as lab:
            a, b = two_hosts(lab, RATES, SHAPINGS["serialised"])
            setup_overlay(a, b, RATES)
            setup_mptcp(a, b, RATES)
            time.sleep(1.5)
            res = _changing_summary(_changing_once(lab, a, b, kind, total))
            for h in (a, b):
                h.ifdown("tun0", check=False)
        adapt = [s["adapt_s"] for s in res["switches"]]
        log(f"  mean {res['mean_mbps']:.0f} of ideal {res['ideal_mean_mbps']:.0f} Mbit/s, "
            f"other flow {res['cross_on_mbps']:.0f} while on; re-adapt (s): {adapt}")
        out["runs"][kind] = res
    return out


# ---- report ----------------------------------------------------------------------------------

def _f(s) -> str:
    return f"{s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f})" if s else "-"


def report_cross(res: dict) -> list:
    md = [f"## Cross traffic on link 0 ({'+'.join(map(str, res['rates']))} Mbit/s serialised; "
          f"design: {res['design']})", "",
          "Mbit/s, median (range). *Left* = the links' sum less what the other traffic is due "
          "(a TCP flow confined to link 0: all of link 0; a UDP stream: its rate). Targets: the "
          "overlay ≥90% of what is left, the other traffic ≥90% of what it is due, ahead of MPTCP.",
          "", "| other traffic on link 0 | overlay | of left | its other traffic | of due | MPTCP | "
          "of left | its other traffic | of due | other traffic alone | left / due |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    names = {"none": "none", "tcp": "one plain TCP flow", "udp": f"UDP at {res['rates'][0] // 2} Mbit/s"}
    for row in res["rows"]:
        cells = []
        for kind in COMPETITORS:
            o = row[kind + "_other"]
            cells += [_f(row[kind]), f"{row[kind]['median'] / row['left_mbps']:.0%}", _f(o),
                      f"{o['median'] / row['due_mbps']:.0%}" if o else "-"]
        md.append(f"| {names[row['condition']]} | " + " | ".join(cells) +
                  f" | {_f(row['alone'])} | {row['left_mbps']} / {row['due_mbps'] or '-'} |")
    return md + [""]


def report_changing(res: dict) -> list:
    md = [f"## Changing cross traffic ({res['seconds']:.0f} s; a plain TCP flow on link 0 on/off "
          f"every 5 s; design: {res['design']})", "",
          "Re-adapt = from a switch until two 100 ms samples in a row are at the new ideal (≥ 90%; "
          "after an on switch also ≤ 110%, more crowds the other flow out; target ≤ 0.5 s); ideal = the flow's own rate alone (median of the off periods, from 1 s "
          "after each switch) while the other flow is off, 2/3 of it while it is on; nominal = 600 / 400 Mbit/s. '-' = not within the 5 s.", "",
          "| flow | alone | mean | of ideal | of nominal | other flow while on (due 200) | "
          "re-adapt on (s) | re-adapt off (s) |", "|---|---|---|---|---|---|---|---|"]
    for kind, r in res["runs"].items():
        def times(on):
            return ", ".join("-" if s["adapt_s"] is None else f"{s['adapt_s']:.1f}"
                             for s in r["switches"] if s["on"] == on)
        md.append(f"| {kind} | {r['ref_mbps']:.0f} | {r['mean_mbps']:.0f} | "
                  f"{r['mean_mbps'] / max(r['ideal_mean_mbps'], 1e-9):.0%} | "
                  f"{r['mean_mbps'] / max(r['nominal_ideal_mean_mbps'], 1e-9):.0%} | "
                  f"{r['cross_on_mbps']:.0f} | {times(True)} | {times(False)} |")
    return md + [""]

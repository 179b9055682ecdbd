#!/usr/bin/env python3
"""Median (min-max) of bench/datapath.py's per-run log lines, by cell, competitor, mode and
variant (the log's file name less its round: 2-1.log and 2-2.log are variant "2").

    python3 parse.py default-*.log 2-*.log
"""
import collections
import re
import statistics
import sys

RUN = re.compile(r"\s+rep \d+ (\S+)\s+(\w+)\s+([\d.]+)/\s*([\d.]+) Mbit/s\s+cpu ([\d.]+) s/Gbit\s+retr (\S+)")


def spread(values, fmt="{:.0f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main(paths):
    rows = collections.defaultdict(list)
    for path in paths:
        variant = path.split("/")[-1].rsplit("-", 1)[0]
        cell = None
        for line in open(path):
            if line.startswith("== "):
                cell = line.split()[1]
            elif RUN.match(line):
                comp, mode, fwd, rev, cpu, retr = RUN.match(line).groups()
                rows[(cell, comp, mode, variant)].append(
                    (float(fwd), float(rev), float(cpu), int(retr) if retr != "None" else 0))
    for (cell, comp, mode, variant), runs in sorted(rows.items()):
        rate = spread([r[0] for r in runs])
        if mode != "one":
            rate += " / " + spread([r[1] for r in runs])
        print(f"| {cell} | {comp} | {variant} | {mode} | {rate} | {spread([r[3] for r in runs])} | "
              f"{spread([r[2] for r in runs], '{:.2f}')} | {len(runs)} |")


if __name__ == "__main__":
    main(sys.argv[1:])

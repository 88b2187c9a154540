#!/usr/bin/env python3
"""SVG bar chart of server CPU µs per request (medians over rounds) from a bench/run.sh TSV.

usage: chart.py RESULTS.tsv OUT.svg      (standard library only; the SVG is written by hand)

One panel per file size (each with its own y scale); inside a panel, one group of bars per
connection count, one bar per server (HTTP via wrk), plus iocomp's line protocol (bench/loadgen)
where measured. A last panel shows CPU seconds per GB for the 100 MiB file when present.
"""
import csv
import statistics
import sys
from collections import OrderedDict
from xml.sax.saxutils import escape

SERIES = [  # (server, proto, label, colour)
    ("iocomp", "http", "iocomp (HTTP)", "#1f77b4"),
    ("iocomp", "line", "iocomp (line protocol)", "#9ecae1"),
    ("nginx", "http", "nginx 1.22", "#2ca02c"),
    ("lighttpd", "http", "lighttpd 1.4", "#ff7f0e"),
    ("limitprobe", "http", "limitprobe (ceiling)", "#7f7f7f"),
]
FILES = OrderedDict([("1k", "1 KiB"), ("16k", "16 KiB"), ("1m", "1 MiB"), ("100m", "100 MiB")])


def load(path):
    with open(path) as fh:
        lines = [l for l in fh if not l.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def median_of(rows, key):
    vals = []
    for r in rows:
        try:
            vals.append(float(r[key]))
        except (TypeError, ValueError):
            pass
    return statistics.median(vals) if vals else None


def nice_max(v):
    if v <= 0:
        return 1.0
    import math
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = [r for r in load(sys.argv[1]) if not r["test"].startswith("shared-")]
    panels = []  # (title, unit, metric, [(group label, [(series idx, value)])])
    for fkey, flabel in FILES.items():
        frows = [r for r in rows if r["file"] == fkey]
        if not frows:
            continue
        metric = "cpu_s_per_gb" if fkey == "100m" else "cpu_us_per_req"
        unit = "CPU s per GB" if fkey == "100m" else "CPU µs per request"
        conns = sorted({int(r["conns"]) for r in frows})
        groups = []
        for c in conns:
            bars = []
            for i, (srv, proto, _, _) in enumerate(SERIES):
                g = [r for r in frows if r["server"] == srv and r["proto"] == proto and int(r["conns"]) == c]
                v = median_of(g, metric)
                if v is not None:
                    bars.append((i, v))
            if bars:
                groups.append((f"{c} conns", bars))
        if groups:
            panels.append((f"{flabel}", unit, groups))
    if not panels:
        sys.exit("chart.py: no data")

    bar_w, bar_gap, group_gap, panel_gap = 26, 4, 22, 40
    top, bottom, left_axis = 70, 70, 56
    plot_h = 300
    widths = []
    for _, _, groups in panels:
        w = sum(len(b) * (bar_w + bar_gap) for _, b in groups) + group_gap * (len(groups) + 1)
        widths.append(max(w, 150))
    width = sum(widths) + (left_axis + panel_gap) * len(panels) + 20
    legend_h = 24
    height = top + plot_h + bottom + legend_h
    o = []
    o.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">')
    o.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    o.append(f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
             'Server CPU per request, per GB for 100 MiB (median over rounds; lower is better; server pinned to one core)</text>')
    x0 = 10
    for (title, unit, groups), pw in zip(panels, widths):
        ax = x0 + left_axis
        vmax = nice_max(max(v for _, bars in groups for _, v in bars) * 1.08)
        y_of = lambda v: top + plot_h - plot_h * v / vmax  # noqa: E731
        o.append(f'<text x="{ax + pw / 2}" y="{top - 22}" text-anchor="middle" font-size="13" '
                 f'font-weight="bold">{escape(title)}</text>')
        o.append(f'<text x="{ax - 42}" y="{top + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 {ax - 42} {top + plot_h / 2})">{escape(unit)}</text>')
        for k in range(6):
            v = vmax * k / 5
            y = y_of(v)
            o.append(f'<line x1="{ax}" y1="{y:.1f}" x2="{ax + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            lab = f"{v:.0f}" if vmax >= 10 else f"{v:.2g}"
            o.append(f'<text x="{ax - 4}" y="{y + 4:.1f}" text-anchor="end">{lab}</text>')
        o.append(f'<line x1="{ax}" y1="{top}" x2="{ax}" y2="{top + plot_h}" stroke="black"/>')
        o.append(f'<line x1="{ax}" y1="{top + plot_h}" x2="{ax + pw}" y2="{top + plot_h}" stroke="black"/>')
        x = ax + group_gap
        for glabel, bars in groups:
            gx = x
            for i, v in bars:
                colour = SERIES[i][3]
                y = y_of(v)
                o.append(f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{top + plot_h - y:.1f}" '
                         f'fill="{colour}"><title>{escape(SERIES[i][2])}, {escape(glabel)}: {v:.3g}</title></rect>')
                txt = f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"
                o.append(f'<text x="{x + bar_w / 2}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">{txt}</text>')
                x += bar_w + bar_gap
            o.append(f'<text x="{(gx + x - bar_gap) / 2}" y="{top + plot_h + 16}" '
                     f'text-anchor="middle">{escape(glabel)}</text>')
            x += group_gap
        x0 += pw + left_axis + panel_gap
    # legend
    used = sorted({i for _, _, groups in panels for _, bars in groups for i, _ in bars})
    lx, ly = 20, top + plot_h + 40
    for i in used:
        o.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{SERIES[i][3]}"/>')
        o.append(f'<text x="{lx + 16}" y="{ly + 10}">{escape(SERIES[i][2])}</text>')
        lx += 30 + 7 * len(SERIES[i][2])
    o.append("</svg>")
    with open(sys.argv[2], "w") as fh:
        fh.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()

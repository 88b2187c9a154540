#!/usr/bin/env python3
"""Tables and SVG line charts from a bench/models.sh TSV.

usage: models_report.py models.tsv OUT_DIR     (standard library only; SVG written by hand)

Writes OUT_DIR/models.md (one table per file and protocol: a row per level of connections, a
column group per model) and OUT_DIR/models-{rps,cpu,rss,p99}.svg (the 1 KiB HTTP runs on one
core: one line per model against the number of connections, log scale on x). A level a model
did not hold is marked with a cross on the charts and "not held" in the tables.
"""
import csv
import math
import os
import sys
from xml.sax.saxutils import escape

MODELS = [  # (name, label, colour)
    ("completion", "completion (io_uring, Ex. 5)", "#1f77b4"),
    ("epoll", "epoll (readiness)", "#2ca02c"),
    ("thread-pool", "thread pool (Ex. 4)", "#ff7f0e"),
    ("thread-per-connection", "thread per connection (Ex. 3)", "#d62728"),
]
LABEL = {m: label for m, label, _ in MODELS}


def load(path):
    with open(path) as fh:
        return list(csv.DictReader((l for l in fh if not l.startswith("#")), delimiter="\t"))


def num(row, key):
    try:
        return float(row[key])
    except (KeyError, ValueError):
        return 0.0


def fmt_int(v):
    return f"{v:,.0f}"


def held_text(r):
    if r["held"] == "yes":
        return "yes"
    if r["file"] != "1k.bin" and r["errors"] == "0":
        # Thousands of 10 MiB answers take longer than a run on any model: bytes flowed, no
        # client was refused or dropped, none finished yet.
        return "yes (none finished within the run)"
    return f"**no** ({r['errors']} errors)"


def table(rows, proto, file, workers):
    sel = [r for r in rows if r["proto"] == proto and r["file"] == file and r["workers"] == workers]
    if not sel:
        return ""
    models = [m for m, _, _ in MODELS if any(r["model"] == m for r in sel)]
    levels = sorted({int(r["conns"]) for r in sel})
    big = file != "1k.bin"
    out = []
    size = "1 KiB" if file == "1k.bin" else "10 MiB"
    cores = sel[0]["cores"]
    out.append(f"### {size}, {'HTTP' if proto == 'http' else 'line protocol'}, "
               f"{workers} worker{'s' if workers != '1' else ''} (server on CPU {cores})\n")
    out.append("| connections | model | requests/s | " + ("MB/s | " if big else "") +
               "CPU µs/request | p50 µs | p99 µs | threads | RSS MiB | vol. cs/req | invol. cs/req | held |")
    out.append("|" + " --- |" * (12 if big else 11))
    for level in levels:
        for m in models:
            r = next((x for x in sel if x["model"] == m and int(x["conns"]) == level), None)
            if r is None:
                continue
            cells = [fmt_int(level), m, fmt_int(num(r, "rps"))]
            if big:
                cells.append(f"{num(r, 'mbps'):,.0f}")
            cells += [f"{num(r, 'cpu_us_per_req'):.1f}", fmt_int(num(r, "p50_us")),
                      fmt_int(num(r, "p99_us")), fmt_int(num(r, "threads")),
                      f"{num(r, 'rss_kib') / 1024:.1f}", f"{num(r, 'vcsw_per_req'):.3f}",
                      f"{num(r, 'ivcsw_per_req'):.3f}",
                      held_text(r)]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def short(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def tick(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def chart(rows, key, title, ylabel, path, log_y=False):
    sel = [r for r in rows if r["proto"] == "http" and r["file"] == "1k.bin" and r["workers"] == "1"]
    if not sel:
        return
    W, H, L, R, T, B = 760, 420, 90, 240, 40, 50
    pw, ph = W - L - R, H - T - B
    levels = sorted({int(r["conns"]) for r in sel})
    xmin, xmax = math.log10(max(1, levels[0])), math.log10(max(levels[-1], 10))
    values = [num(r, key) for r in sel if num(r, key) > 0]
    if not values:
        return
    if log_y:
        ymin, ymax = math.log10(min(values)) - 0.1, math.log10(max(values)) + 0.1
    else:
        ymin, ymax = 0.0, max(values) * 1.1

    def x(c):
        return L + (math.log10(max(1, c)) - xmin) / ((xmax - xmin) or 1) * pw

    def y(v):
        v = math.log10(v) if log_y else v
        return T + ph - (v - ymin) / ((ymax - ymin) or 1) * ph

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
         f'<line x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="black"/>',
         f'<text x="{L + pw / 2}" y="{H - 12}" text-anchor="middle">concurrent connections '
         f'(log scale)</text>',
         f'<text transform="translate(14,{T + ph / 2}) rotate(-90)" text-anchor="middle">'
         f'{escape(ylabel)}</text>']
    for level in levels:
        s.append(f'<line x1="{x(level):.1f}" y1="{T + ph}" x2="{x(level):.1f}" y2="{T + ph + 5}" '
                 f'stroke="black"/><text x="{x(level):.1f}" y="{T + ph + 18}" '
                 f'text-anchor="middle">{short(level)}</text>')
    for i in range(6):
        frac = i / 5
        v = ymin + frac * (ymax - ymin)
        shown = 10 ** v if log_y else v
        yy = T + ph - frac * ph
        s.append(f'<line x1="{L - 5}" y1="{yy:.1f}" x2="{L + pw}" y2="{yy:.1f}" stroke="#ddd"/>'
                 f'<text x="{L - 8}" y="{yy + 4:.1f}" text-anchor="end">{tick(shown)}</text>')
    for n, (m, label, colour) in enumerate(MODELS):
        pts = sorted(((int(r["conns"]), num(r, key), r["held"]) for r in sel if r["model"] == m),
                     key=lambda p: p[0])
        pts = [p for p in pts if p[1] > 0]
        if not pts:
            continue
        s.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="' +
                 " ".join(f"{x(c):.1f},{y(v):.1f}" for c, v, _ in pts) + '"/>')
        for c, v, held in pts:
            if held == "yes":
                s.append(f'<circle cx="{x(c):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"/>')
            else:
                s.append(f'<text x="{x(c):.1f}" y="{y(v) + 5:.1f}" text-anchor="middle" '
                         f'font-size="16" fill="{colour}">✕</text>')
        ly = T + 10 + n * 22
        s.append(f'<line x1="{L + pw + 15}" y1="{ly}" x2="{L + pw + 40}" y2="{ly}" '
                 f'stroke="{colour}" stroke-width="2"/><text x="{L + pw + 46}" y="{ly + 4}">'
                 f'{escape(label)}</text>')
    s.append(f'<text x="{L + pw + 15}" y="{T + 10 + len(MODELS) * 22}">✕ level not held</text>')
    s.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(s) + "\n")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rows = load(sys.argv[1])
    out_dir = sys.argv[2]
    parts = ["# Models: results\n"]
    run_txt = os.path.join(out_dir, "run.txt")
    if os.path.exists(run_txt):
        with open(run_txt) as fh:
            parts.append("```\n" + fh.read() + "```\n")
    for proto, file in (("http", "1k.bin"), ("http", "10m.bin"), ("line", "1k.bin")):
        parts.append(table(rows, proto, file, "1"))
    parts.append(table(rows, "http", "1k.bin", "2"))
    with open(os.path.join(out_dir, "models.md"), "w") as fh:
        fh.write("\n".join(p for p in parts if p))
    chart(rows, "rps", "Requests/s, 1 KiB over HTTP, one core", "requests/s",
          os.path.join(out_dir, "models-rps.svg"))
    chart(rows, "cpu_us_per_req", "Server CPU per request, 1 KiB over HTTP, one core",
          "µs of CPU per request (log scale)", os.path.join(out_dir, "models-cpu.svg"), log_y=True)
    chart(rows, "rss_kib", "Server memory (RSS), 1 KiB over HTTP", "KiB (log scale)",
          os.path.join(out_dir, "models-rss.svg"), log_y=True)
    chart(rows, "p99_us", "p99 latency, 1 KiB over HTTP, one core", "µs (log scale)",
          os.path.join(out_dir, "models-p99.svg"), log_y=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

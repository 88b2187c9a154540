#!/usr/bin/env python3
"""Markdown summary of a bench/run.sh results file (TSV): medians over rounds and ratios.

usage: report.py RESULTS.tsv   (writes markdown to stdout; standard library only)
"""
import csv
import statistics
import sys
from collections import OrderedDict

SERVERS = ["iocomp", "nginx", "lighttpd", "limitprobe"]
FILES = {"1k": "1 KiB", "16k": "16 KiB", "1m": "1 MiB", "100m": "100 MiB"}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(rows, key):
    vals = [num(r[key]) for r in rows]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def rng(rows, key):
    vals = [num(r[key]) for r in rows]
    vals = [v for v in vals if v is not None]
    return (min(vals), max(vals)) if vals else (None, None)


def f(v, nd=1):
    if v is None:
        return "–"
    if nd == 0:
        return f"{v:,.0f}"
    return f"{v:,.{nd}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "–"


def load(path):
    meta, anomalies, lines = [], [], []
    with open(path) as fh:
        for line in fh:
            if line.startswith("# anomaly: "):
                anomalies.append(line[len("# anomaly: "):].rstrip("\n"))
            elif line.startswith("#"):
                meta.append(line[1:].strip())
            else:
                lines.append(line)
    rows = list(csv.DictReader(lines, delimiter="\t"))
    return meta, anomalies, rows


def meta_int(meta, key):
    """An integer from the '# iocomp bench ... key=N ...' header line, or None."""
    for m in meta:
        for part in m.split():
            if part.startswith(key + "="):
                try:
                    return int(part[len(key) + 1:])
                except ValueError:
                    return None
    return None


def bound(srv_pct, cli_pct, cores=1.0):
    """Who limited the run: the server's core, the client's core, or neither."""
    if srv_pct is None or cli_pct is None:
        return "?"
    if srv_pct >= 90 * cores and cli_pct >= 90:
        return "both"
    if srv_pct >= 90 * cores:
        return "server"
    if cli_pct >= 90:
        return "client"
    return "neither"


def row_stats(g):
    """Medians (and the CPU-per-request range, the error total) over one test's rounds."""
    return dict(
        rps=med(g, "rps"), us=med(g, "cpu_us_per_req"), us_rng=rng(g, "cpu_us_per_req"),
        spct=med(g, "server_cpu_pct"), cpct=med(g, "client_cpu_pct"), lat=med(g, "lat_avg_ms"),
        err=sum(int(num(r["errors"]) or 0) for r in g), rss=med(g, "rss_kb"),
        sgb=med(g, "cpu_s_per_gb"), n=len(g),
        sbusy=med(g, "cpu_s_busy_pct"), cbusy=med(g, "cpu_c_busy_pct"))


def per_server_table(w, groups, tests, proto, full):
    """One row per (test, server) run with this load generator; returns the stats by (test,
    server). `full` adds CPU s/GB and RSS (the wrk tables)."""
    extra_head, extra_rule = (" CPU s/GB |", "---:|") if full else ("", "")
    w(f"| test | server | req/s | CPU µs/req | (min–max) |{extra_head} server CPU % | client CPU % | "
      "bound | CPU0/CPU1 busy % | latency ms | errors |" + (" RSS MiB |" if full else ""))
    w(f"|---|---|---:|---:|---|{extra_rule}---:|---:|---|---|---:|---:|" + ("---:|" if full else ""))
    stats = {}
    for t in tests:
        for s in SERVERS:
            g = groups.get((t, s, proto))
            if not g:
                continue
            st = stats[(t, s)] = row_stats(g)
            lo, hi = st["us_rng"]
            name = t[len("lg-"):] if t.startswith("lg-") else t
            gb = f" {f(st['sgb'], 3)} |" if full else ""
            rss = f" {f(st['rss'] / 1024 if st['rss'] else None)} |" if full else ""
            w(f"| {name} | {s} | {f(st['rps'], 0)} | **{f(st['us'], 2)}** | {f(lo, 2)}–{f(hi, 2)} |{gb} "
              f"{f(st['spct'])} | {f(st['cpct'])} | {bound(st['spct'], st['cpct'])} | "
              f"{f(st['sbusy'], 0)}/{f(st['cbusy'], 0)} | {f(st['lat'], 2)} | {st['err']} |{rss}")
    w("")
    return stats


def ratio_table(w, stats, tests, key, nd, against):
    """One row per test: each server's `key` median, then iocomp's over each of `against`."""
    w("| test | " + " | ".join(SERVERS) + " | " + " | ".join(f"iocomp / {o}" for o in against) + " |")
    w("|---|" + "---:|" * (len(SERVERS) + len(against)))
    for t in tests:
        v = {s: stats.get((t, s), {}).get(key) for s in SERVERS}
        if v["iocomp"] is None and v["nginx"] is None:
            continue
        w(f"| {t} | " + " | ".join(f(v[s], nd) for s in SERVERS) + " | "
          + " | ".join(ratio(v["iocomp"], v[o]) for o in against) + " |")
    w("")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    meta, anomalies, rows = load(sys.argv[1])
    groups = OrderedDict()
    for r in rows:
        groups.setdefault((r["test"], r["server"], r["proto"]), []).append(r)
    tests = list(OrderedDict.fromkeys(r["test"] for r in rows))
    rounds = len({r["round"] for r in rows})
    out = []
    w = out.append
    w("# iocomp benchmark")
    w("")
    for m in meta:
        w(f"- {m}")
    w(f"- medians over {rounds} round(s); CPU µs/request = server utime+stime (all its processes "
      "and threads) / requests completed by the load generator; server on CPU 0, load generator "
      "on CPU 1 unless noted. `bound` = which side was ≥90 % busy (a core) during the run. "
      "`CPU0/CPU1 busy` = how busy the two cores were in total (our processes, softirq and anything "
      "else running on the machine): well above server / client CPU % means other load was present.")
    w("")

    # --- main HTTP table
    http_tests = [t for t in tests if not t.startswith(("shared-", "line-", "100m-", "lg-", "scale-"))]
    w("## HTTP, one server core (medians)")
    w("")
    stats = per_server_table(w, groups, http_tests, "http", full=True)

    # --- ratios
    w("## CPU µs per request: iocomp against the others (medians)")
    w("")
    ratio_table(w, stats, http_tests, "us", 2, against=("nginx", "lighttpd", "limitprobe"))
    w("Ratios below 1 mean iocomp spends less CPU per request than the other server. With 1 MiB "
      "files and thousands of connections most transfers are still in flight when the run ends, "
      "so CPU per completed request overstates the cost; compare CPU s/GB there.")
    w("")

    # --- requests/s ratios
    w("## Requests/s: iocomp against the others (medians)")
    w("")
    ratio_table(w, stats, http_tests, "rps", 0, against=("nginx", "lighttpd"))

    # --- 100 MiB
    big = [t for t in tests if t.startswith("100m-")]
    for t in big:
        w(f"## 100 MiB file ({t}): server CPU seconds per GB sent (medians)")
        w("")
        w("| server | GB/s | CPU s/GB | (min–max) | server CPU % | client CPU % | bound | errors | vs iocomp |")
        w("|---|---:|---:|---|---:|---:|---|---:|---:|")
        base = med(groups.get((t, "iocomp", "http"), []), "cpu_s_per_gb")
        for s in SERVERS:
            g = groups.get((t, s, "http"))
            if not g:
                continue
            gbs = [num(r["bytes"]) / 1e9 / num(r["duration_s"]) for r in g
                   if num(r["bytes"]) and num(r["duration_s"])]
            sgb = med(g, "cpu_s_per_gb")
            lo, hi = rng(g, "cpu_s_per_gb")
            sp, cp = med(g, "server_cpu_pct"), med(g, "client_cpu_pct")
            err = sum(int(num(r["errors"]) or 0) for r in g)
            w(f"| {s} | {f(statistics.median(gbs) if gbs else None, 2)} | **{f(sgb, 3)}** | "
              f"{f(lo, 3)}–{f(hi, 3)} | {f(sp)} | {f(cp)} | {bound(sp, cp)} | {err} | "
              f"{ratio(base, sgb) if s != 'iocomp' else '1.00×'} |")
        w("")
        w("`vs iocomp` = iocomp's CPU s/GB divided by this server's (below 1: iocomp is cheaper).")
        w("")

    # --- RSS with many connections
    conns_of = {r["test"]: int(r["conns"]) for r in rows}
    low = min((conns_of[t] for t in http_tests), default=0)
    many = [t for t in http_tests if conns_of[t] > low]
    if many:
        w("## Server RSS while the many-connection runs are open (MiB, median of mid-run samples)")
        w("")
        w("| server | " + " | ".join(many) + " | idle, before the first of these runs |")
        w("|---|" + "---:|" * (len(many) + 1))
        for s in SERVERS:
            cells = []
            for t in many:
                g = groups.get((t, s, "http"))
                r = med(g, "rss_kb") if g else None
                cells.append(f(r / 1024 if r else None))
            g0 = groups.get((many[0], s, "http"))
            r0 = min(num(r["rss_before_kb"]) for r in g0) if g0 else None
            if any(c != "–" for c in cells):
                w(f"| {s} | " + " | ".join(cells) + f" | {f(r0 / 1024 if r0 else None)} |")
        w("")

    # --- HTTP through loadgen
    lg_tests = [t for t in tests if t.startswith("lg-")]
    if lg_tests:
        w("## HTTP through bench/loadgen, one request in flight per connection (medians)")
        w("")
        w("loadgen costs the client less per request than wrk (no epoll_ctl per request, no "
          "per-request histogram), so it shows more of the servers' own limits.")
        w("")
        per_server_table(w, groups, lg_tests, "lg", full=False)

    # --- many connections against few
    low_n, big_n = meta_int(meta, "low"), meta_int(meta, "big")
    pairs = []
    for t in http_tests + lg_tests:
        if low_n and big_n and t.endswith(f"-c{big_n}") and not t.startswith("1m-"):
            few = t[: -len(f"c{big_n}")] + f"c{low_n}"
            if few in tests:
                pairs.append((few, t))
    if pairs:
        w("## Many connections against few: requests/s (medians)")
        w("")
        w("| client, file | server | req/s, {0} conns (bound) | req/s, {1} conns (bound) | {1} / {0} | CPU µs/req, {0} → {1} |".format(low_n, big_n))
        w("|---|---|---:|---:|---:|---|")
        for few, many_t in pairs:
            proto = "lg" if few.startswith("lg-") else "http"
            client = "loadgen" if proto == "lg" else "wrk"
            file = few.split("-")[-2]
            for s_ in SERVERS:
                a, b = groups.get((few, s_, proto)), groups.get((many_t, s_, proto))
                if not a or not b:
                    continue
                sa, sb = row_stats(a), row_stats(b)
                w(f"| {client}, {file} | {s_} | {f(sa['rps'], 0)} ({bound(sa['spct'], sa['cpct'])}) | "
                  f"{f(sb['rps'], 0)} ({bound(sb['spct'], sb['cpct'])}) | {ratio(sb['rps'], sa['rps'])} | "
                  f"{f(sa['us'], 2)} → {f(sb['us'], 2)} |")
        w("")

    # --- line protocol vs HTTP
    line_tests = [t for t in tests if t.startswith("line-")]
    if line_tests:
        w("## iocomp: line protocol against HTTP, same core, same files (medians)")
        w("")
        w("Both through bench/loadgen (same client, one request in flight), and HTTP through wrk for reference.")
        w("")
        w("| file, connections | line req/s | line CPU µs/req | HTTP (loadgen) req/s | HTTP (loadgen) CPU µs/req | line / HTTP (loadgen) | HTTP (wrk) CPU µs/req | line / HTTP (wrk) | line errors |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in line_tests:
            g = groups.get((t, "iocomp", "line"))
            if not g:
                continue
            base = t[len("line-"):]
            h = groups.get((base, "iocomp", "http"))
            lg = groups.get(("lg-" + base, "iocomp", "lg"))
            ls, hs, gs = row_stats(g), row_stats(h) if h else {}, row_stats(lg) if lg else {}
            w(f"| {base} | {f(ls['rps'], 0)} | **{f(ls['us'], 2)}** | {f(gs.get('rps'), 0)} | {f(gs.get('us'), 2)} | "
              f"{ratio(ls['us'], gs.get('us'))} | {f(hs.get('us'), 2)} | {ratio(ls['us'], hs.get('us'))} | {ls['err']} |")
        w("")

    # --- 1 vs 2 workers, pipelined loadgen
    scale = [t for t in tests if t.startswith("scale-")]
    for t in scale:
        w(f"## iocomp 1 vs 2 workers ({t}: loadgen, pipelined requests, medians)")
        w("")
        w("`iocomp`: one worker on CPU 0, loadgen on CPU 1. `iocomp-1w-shared` / `iocomp-2w-shared`: "
          "one / two workers, server and loadgen all free to use CPUs 0-1. Runs are interleaved, so "
          "each round gives one ratio against the pinned one-worker run of the same round; this "
          "machine's throughput moves between rounds by up to 2× (shared host), and the paired "
          "ratios are the steadier figure.")
        w("")
        w("| server | workers | req/s | req/s over `iocomp` (medians) | median of per-round ratios (min–max) | server CPU % (of one core) | client CPU % | CPU0/CPU1 busy % | per-thread CPU split (last round) | errors |")
        w("|---|---:|---:|---:|---|---:|---:|---|---|---:|")
        base = None
        base_by_round = {r["round"]: num(r["rps"]) for r in groups.get((t, "iocomp", "lg"), [])}
        for s_, wk in (("iocomp", 1), ("iocomp-1w-shared", 1), ("iocomp-2w-shared", 2)):
            g = groups.get((t, s_, "lg"))
            if not g:
                continue
            st = row_stats(g)
            if s_ == "iocomp":
                base = st["rps"]
            ticks = [int(x) for x in g[-1]["task_ticks"].split("/") if x.lstrip("-").isdigit()]
            tot = sum(ticks) or 1
            split = " / ".join(f"{100 * x / tot:.0f}%" for x in ticks)
            paired = [num(r["rps"]) / base_by_round[r["round"]] for r in g
                      if base_by_round.get(r["round"]) and num(r["rps"]) is not None]
            pr = (f"{statistics.median(paired):.2f}× ({min(paired):.2f}–{max(paired):.2f})"
                  if paired and s_ != "iocomp" else "–")
            w(f"| {s_} | {wk} | {f(st['rps'], 0)} | {ratio(st['rps'], base)} | {pr} | {f(st['spct'])} | "
              f"{f(st['cpct'])} | {f(st['sbusy'], 0)}/{f(st['cbusy'], 0)} | {split} | {st['err']} |")
        w("")

    # --- anomalies
    errs = [r for r in rows if (num(r["errors"]) or 0) > 0 or r["note"] not in ("-", "")]
    if anomalies or errs:
        w("## Anomalies")
        w("")
        for a in anomalies:
            if a.startswith("    "):
                w(f"    {a.strip()}")
            else:
                w(f"- {a}")
        for r in errs:
            w(f"- round {r['round']} {r['test']} {r['server']}: errors={r['errors']} note={r['note']}")
        w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()

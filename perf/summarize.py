#!/usr/bin/python3
"""perf/summarize.py - the day's results of one `make bench` run.

Reads what perf/bench.sh left in its output directory (perf/out/bench):
run.meta (the run: date, commit, command, machine, set-up), existing.meta
(exit status of the earlier benchmarks), and per scenario ID.meta (tool,
command, exit status, server and generator CPU ticks and wall clock around
the measured window) with ID.json (idgate-load --json) and ID.txt (the
tool's output; wrk's whole result).  Writes one JSON file with every scenario of the run and
the figures of the earlier benchmarks (perf/out/results.md, inflight.md,
perf/out-csc/results.md, find-capacity's perf/results/<day>-<name>.json),
and regenerates the table between the bench markers of perf/RESULTS.md.
A scenario whose files are missing (skipped, failed) gets a row saying so.

usage: perf/summarize.py [--json FILE] [--md FILE] [--since EPOCH] OUTDIR

Python 3 standard library only.
"""
import argparse
import json
import os
import re
import sys

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
SECTION = "## make bench: the latest run"
SECTION_TEXT = """\
`make bench` builds, then runs `perf/bench.sh`: the scenarios below in one
run, each server on core 0 and the load on core 1, and the earlier
benchmarks (`perf/run.sh`, `perf/hsm_inflight.sh`, `perf/csc.sh`,
`perf/capacity.sh`).  Everything it measured goes to
`perf/results/<date>.json`; `perf/summarize.py` writes that file and the
table between the markers below, which it replaces at each run (the rest of
this file is written by hand).  The nginx rows are the reference measured
in the same run; the wrk rows check idgate-load's figures with an
independent tool on the same nginx.
"""

# id, label, tool, server, TLS mode, idgate-load workload, reference id
SCENARIOS = [
    ("login-keepalive", "idgated login, keep-alive", "idgate-load", "idgated",
     "keepalive", "login", "nginx-keepalive"),
    ("login-newconn", "idgated login, new TLS connection each", "idgate-load",
     "idgated", "new", "login", "nginx-newconn"),
    ("sign-keepalive", "idgated signing (authorize + signHash), keep-alive",
     "idgate-load", "idgated", "keepalive", "sign", "nginx-keepalive"),
    ("nginx-keepalive", "nginx static 200, keep-alive", "idgate-load", "nginx",
     "keepalive", "http", None),
    ("wrk-nginx-keepalive", "nginx static 200, keep-alive", "wrk", "nginx",
     "keepalive", None, "nginx-keepalive"),
    ("nginx-newconn", "nginx static 200, new TLS connection each", "idgate-load",
     "nginx", "new", "http", None),
    ("wrk-nginx-newconn", "nginx static 200, new TLS connection each", "wrk",
     "nginx", "new", None, "nginx-newconn"),
]

# The earlier benchmarks' machine-readable outputs.
EXISTING = [
    ("run.sh", ["perf/out/results.md", "perf/out/enrol.txt"]),
    ("hsm_inflight.sh", ["perf/out/inflight.md"]),
    ("csc.sh", ["perf/out-csc/results.md"]),
    ("handshake.sh", ["perf/out/handshake/results.md"]),
    ("tls_hsm.sh", ["perf/out/tls_hsm/results.md"]),
    ("dpdk.sh", ["perf/out/dpdk/results.md"]),
]
SATURATED = 0.95   # a core this busy over a run is full

CAPACITY = ["login-keepalive", "login-newconn", "sign-keepalive",
            "nginx-static-keepalive", "nginx-static-newconn"]


# ---- reading -------------------------------------------------------------------

def read_meta(path):
    """KEY=VALUE lines; {} if the file is missing."""
    meta = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    meta[k] = v
    except OSError:
        pass
    return meta


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pair(meta, key):
    """Two numbers 'a b' of a meta line -> (a, b), or None."""
    try:
        a, b = meta[key].split()
        return float(a), float(b)
    except (KeyError, ValueError):
        return None


WRK_UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def wrk_time_us(s):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", s)
    return float(m.group(1)) * WRK_UNITS[m.group(2)] if m else None


def parse_wrk(text):
    """wrk 4.1's text result -> dict, or None if it has no result."""
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h)", text, re.M)
    if not m:
        return None
    r = {"requests": int(m.group(1)),
         "duration_s": float(m.group(2)) * WRK_UNITS[m.group(3)] / 1e6}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non_2xx_3xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    r["socket_errors"] = ({k: int(v) for k, v in zip(
        ("connect", "read", "write", "timeout"), m.groups())} if m else {})
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    r["requests_per_s_wrk"] = float(m.group(1)) if m else None
    lat = {}
    for p in ("50", "75", "90", "99"):
        m = re.search(r"^\s*%s%%\s+(\S+)" % p, text, re.M)
        if m:
            lat["p" + p] = wrk_time_us(m.group(1))
    r["latency_us"] = lat
    return r


def pick_series(doc, workload):
    """The idgate-load JSON's scenario entry of <workload>: the whole run's
    ("all") when it has several phases."""
    cand = [s for s in doc.get("scenarios", [])
            if workload is None or s.get("workload") == workload]
    for s in cand:
        if s.get("phase") == "all":
            return s
    return cand[0] if cand else None


def pcts(h):
    if not h:
        return None
    return {k: h.get(k) for k in ("p50", "p90", "p99", "p99.9", "max")}


# ---- one scenario ----------------------------------------------------------------

def cpu_figures(meta, hz, n_ok):
    """Server CPU µs per 2xx answer, and the share of a core busy, for the
    server (core 0) and the generator (core 1) over the measured window."""
    r = {"server_cpu_us_per_req": None, "server_core_busy": None,
         "generator_core_busy": None}
    st, gt, wall = (pair(meta, "server_ticks"), pair(meta, "generator_ticks"),
                    pair(meta, "wall"))
    el = wall[1] - wall[0] if wall else None
    if st:
        s = (st[1] - st[0]) / hz
        r["server_cpu_s"] = round(s, 3)
        if n_ok:
            r["server_cpu_us_per_req"] = round(s * 1e6 / n_ok, 1)
        if el:
            r["server_core_busy"] = round(s / el, 3)
    if gt and el:
        r["generator_core_busy"] = round((gt[1] - gt[0]) / hz / el, 3)
        # The client's core full: whatever its own checks say, the client
        # may be the limit (the only such sign for wrk).
        r["generator_core_saturated"] = r["generator_core_busy"] >= SATURATED
    if el:
        r["wall_s"] = round(el, 2)
    return r


def load_result(outdir, sid, workload, meta, hz):
    r = {"command": meta.get("command"), "exit_code": intnone(meta.get("exit"))}
    doc = read_json(os.path.join(outdir, sid + ".json"))
    if doc is None:
        r["status"] = "missing" if meta.get("exit") in (None, "0") else "failed"
        r["note"] = "no result file (%s.json)" % sid
        return r
    s = pick_series(doc, workload)
    if s is None:
        r["status"] = "failed"
        r["note"] = "no %s series in %s.json" % (workload, sid)
        return r
    text = read_text(os.path.join(outdir, sid + ".txt")) or ""
    gen = doc.get("generator", {})
    offered = doc.get("offered") or 0
    behind = gen.get("fell_behind")
    if behind is None:      # older idgate-load: the summary's rule
        behind = (gen.get("late_sends", 0) > offered // 100
                  or gen.get("max_lag_us", 0) > 100000)
    printed = "GENERATOR FELL BEHIND ITS OWN SCHEDULE" in text
    starved = gen.get("signer_starved", 0) > 0
    lat2 = next((c for c in s.get("latency", []) if c.get("class") == "2xx"), {})
    n_ok = lat2.get("count") or sum(v for k, v in s.get("status", {}).items()
                                    if k.startswith("2"))
    answered = s.get("answered") or 0
    non2xx = sum(v for k, v in s.get("status", {}).items() if not k.startswith("2"))
    errors = s.get("error_total", 0)
    rate = s.get("achieved_rate", 0) * (n_ok / answered if answered else 0)
    rate_how = "2xx answers per second within the schedule (idgate-load's " \
               "achieved rate, the 2xx share)"
    off_rate = s.get("offered_rate")
    r.update({
        "status": "ok" if r["exit_code"] in (0, None) else "failed",
        "workload": s.get("workload"), "tls": s.get("tls"),
        "offered_rate": rnd(off_rate),
        "achieved_rate": rnd(rate), "achieved_rate_is": rate_how,
        "answered_after_schedule": doc.get("answered_after_schedule"),
        "answers_2xx": n_ok, "answered": answered,
        "errors": errors + non2xx, "transport_errors": s.get("errors"),
        "status_codes": s.get("status"),
        "latency_us": {"corrected": pcts(lat2.get("corrected_us")),
                       "uncorrected": pcts(lat2.get("uncorrected_us"))},
        "generator_limited": bool(behind or printed or starved),
        "generator_fell_behind": bool(behind or printed),
        "generator_signer_starved": gen.get("signer_starved", 0),
        "generator": gen,
        "saturated": bool(off_rate and rate < 0.95 * off_rate),
    })
    r.update(cpu_figures(meta, hz, n_ok))
    if "calls" in s:
        r["calls"] = s["calls"]
        r["hashes_per_call"] = s.get("hashes_per_call")
    r["probe"] = {"command": meta.get("probe_command"),
                  "exit_code": intnone(meta.get("probe_exit")),
                  "offered_rate": num(meta.get("probe_offered_rate")),
                  "throughput": rnd(num(meta.get("probe_throughput")))}
    if meta.get("note"):
        r["note"] = "; ".join(x for x in (meta["note"], r.get("note")) if x)
    return r


def wrk_result(outdir, sid, meta, hz):
    r = {"command": meta.get("command"), "exit_code": intnone(meta.get("exit"))}
    text = read_text(os.path.join(outdir, sid + ".txt"))
    w = parse_wrk(text) if text else None
    if w is None:
        r["status"] = "missing" if text is None else "failed"
        r["note"] = "no wrk result (%s.txt)" % sid
        return r
    n_ok = w["requests"] - w["non_2xx_3xx"]
    r.update({
        "status": "ok" if r["exit_code"] in (0, None) else "failed",
        "requests": w["requests"], "answers_2xx": n_ok,
        "duration_s": w["duration_s"],
        "achieved_rate": rnd(n_ok / w["duration_s"]) if w["duration_s"] else None,
        "requests_per_s_wrk": w["requests_per_s_wrk"],
        "offered_rate": None,
        "errors": w["non_2xx_3xx"] + sum(w["socket_errors"].values()),
        "socket_errors": w["socket_errors"],
        "latency_us": w["latency_us"],
        "generator_limited": None,
    })
    r.update(cpu_figures(meta, hz, n_ok))
    return r


# ---- the earlier benchmarks --------------------------------------------------------

def num(s):
    if s is None:
        return None
    t = str(s).strip().replace(",", "")
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return str(s).strip()


def intnone(s):
    v = num(s)
    return v if isinstance(v, int) else None


def rnd(x, d=1):
    return round(x, d) if isinstance(x, (int, float)) else x


def md_tables(text):
    """Markdown tables -> lists of row dicts; other non-empty lines apart."""
    tables, lines, head, rows = [], [], None, None
    for line in text.splitlines() + [""]:
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            cells = [c.strip() for c in s[1:-1].split("|")]
            if head is None:
                head, rows = cells, []
            elif all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            else:
                rows.append({h: num(c) for h, c in zip(head, cells)})
            continue
        if head is not None:
            tables.append(rows)
            head = None
        if s:
            lines.append(s)
    return tables, lines


def existing_results(ex, since, capacity_day):
    out = {}
    for script, files in EXISTING:
        e = {"exit_code": intnone(ex.get("script." + script))}
        if e["exit_code"] is None:
            e["status"] = "not run"
        got = []
        for path in files:
            try:
                fresh = os.path.getmtime(path) >= since
            except OSError:
                continue
            if not fresh:
                continue
            tables, lines = md_tables(read_text(path) or "")
            got.append({"file": path, "tables": tables, "lines": lines})
        e["outputs"] = got
        out[script] = e
    cap = {"exit_code": intnone(ex.get("script.capacity.sh")), "searches": {}}
    if cap["exit_code"] is None:
        cap["status"] = "not run"
    for name in CAPACITY:
        path = "perf/results/%s-%s.json" % (capacity_day, name)
        doc = read_json(path)
        try:
            fresh = os.path.getmtime(path) >= since
        except OSError:
            fresh = False
        if doc is None or not fresh:
            continue
        conf = [t for t in doc.get("trials", [])
                if t.get("confirm") and t.get("verdict") == "pass"]
        cap["searches"][name] = {
            "file": path, "slo": doc.get("slo"), "result": doc.get("result"),
            "confirmed_trial": conf[-1] if conf else None}
    out["capacity.sh"] = cap
    return out


# ---- the summary ---------------------------------------------------------------------

def ratio(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return None
    return round(a / b, 3)


def summarize(outdir, since_override=None):
    run = read_meta(os.path.join(outdir, "run.meta"))
    ex = read_meta(os.path.join(outdir, "existing.meta"))
    hz = float(run.get("hz") or os.sysconf("SC_CLK_TCK"))
    dur = float(run.get("duration_s") or 10)
    res = {}
    for sid, label, tool, server, tls, wl, ref in SCENARIOS:
        meta = read_meta(os.path.join(outdir, sid + ".meta"))
        if meta.get("status") == "skipped":
            r = {"status": "skipped", "note": meta.get("note")}
        elif not meta:
            r = {"status": "missing", "note": "not run (no %s.meta)" % sid}
        elif tool == "wrk":
            r = wrk_result(outdir, sid, meta, hz)
        else:
            r = load_result(outdir, sid, wl, meta, hz)
        r = dict({"id": sid, "label": label, "tool": tool, "server": server,
                  "tls_mode": tls}, **r)
        res[sid] = r
    for sid, label, tool, server, tls, wl, ref in SCENARIOS:
        r, b = res[sid], res.get(ref) if ref else None
        if not b or r.get("status") not in ("ok", "failed"):
            continue
        if tool == "wrk":
            r["cross_check"] = {
                "against": ref,
                "rate_ratio": ratio(r.get("achieved_rate"), b.get("achieved_rate")),
                "cpu_per_req_ratio": ratio(r.get("server_cpu_us_per_req"),
                                           b.get("server_cpu_us_per_req")),
                "wrk_cpu_us_per_req": r.get("server_cpu_us_per_req"),
                "idgate_load_cpu_us_per_req": b.get("server_cpu_us_per_req")}
        else:
            r["cpu_per_req_vs_nginx"] = {
                "against": ref,
                "ratio": ratio(r.get("server_cpu_us_per_req"),
                               b.get("server_cpu_us_per_req"))}
    since = since_override if since_override is not None else float(run.get("started") or 0)
    doc = {
        "date": run.get("date"),
        "started_utc": run.get("started_utc"),
        "finished_utc": run.get("finished_utc"),
        "commit": run.get("commit"),
        "worktree_modified": run.get("worktree_modified") == "yes",
        "command": run.get("command"),
        "machine": {"cores": intnone(run.get("cores")), "model_name": run.get("model"),
                    "kernel": run.get("kernel")},
        "setup": {
            "server_core": intnone(run.get("server_core")),
            "generator_core": intnone(run.get("generator_core")),
            "connections": intnone(run.get("connections")),
            "duration_s": num(run.get("duration_s")),
            "probe_s": num(run.get("probe_s")),
            "offered_over_probe_throughput": num(run.get("over")),
            "clock_ticks_per_s": hz,
            "idgated": run.get("idgated"),
            "populate": run.get("populate"),
            "idgate_load_has_sign": run.get("idgate_load_sign") == "yes",
            "nginx": run.get("nginx"), "wrk": run.get("wrk"),
            "method": "idgate-load: a probe, then an open-loop run offering "
                      "the probe's throughput times offered_over_probe_throughput; "
                      "achieved_rate = 2xx answers per second inside the schedule "
                      "(achieved_rate_idgate_load also counts the drain); wrk: closed "
                      "loop; server CPU = utime + stime of the server's threads over "
                      "the measured run / its 2xx answers",
        },
        "scenarios": [res[s[0]] for s in SCENARIOS],
        "earlier_benchmarks": existing_results(ex, since, ex.get("capacity_day") or run.get("date")),
    }
    return doc


# ---- the table -------------------------------------------------------------------------

def fmt_int(x):
    return "{:,.0f}".format(x) if isinstance(x, (int, float)) else "–"


def fmt_ms(us):
    if not isinstance(us, (int, float)):
        return "–"
    ms = us / 1000.0
    return "%.2f ms" % ms if ms < 10 else "%.1f ms" % ms if ms < 100 else "%.0f ms" % ms


def fmt_ratio(x):
    if not isinstance(x, (int, float)):
        return "–"
    return "%.2f" % x if x < 10 else "%.1f" % x if x < 100 else "%.0f" % x


def pct(x):
    return "%.0f%%" % (100 * x) if isinstance(x, (int, float)) else "?"


def row(r):
    label, tool = r["label"], r["tool"]
    if r["status"] in ("skipped", "missing") or (
            r["status"] == "failed" and r.get("achieved_rate") is None):
        if r["status"] == "failed":
            r = dict(r, note="%s (exit %s)" % (r.get("note") or "", r.get("exit_code")))
        return "| %s | %s | – | – | – | – | – | – | %s: %s |" % (
            label, tool, r["status"], r.get("note") or "")
    lat = r.get("latency_us") or {}
    if tool == "wrk":
        p50, p99 = lat.get("p50"), lat.get("p99")
    else:
        u = lat.get("uncorrected") or {}
        p50, p99 = u.get("p50"), u.get("p99")
    notes = []
    if r["status"] == "failed":
        notes.append("**failed** (exit %s)" % r.get("exit_code"))
    if r.get("generator_limited"):
        why = []
        if r.get("generator_fell_behind"):
            why.append("fell behind its schedule")
        if r.get("generator_signer_starved"):
            why.append("signer ran dry %d times" % r["generator_signer_starved"])
        notes.append("**generator-limited** (%s): measures the client" % ", ".join(why))
    if r.get("generator_core_saturated"):
        notes.append("**core 1 full** (%s busy): the client may be the limit" %
                     pct(r.get("generator_core_busy")))
    if tool == "idgate-load" and r.get("offered_rate") and r.get("saturated") is False:
        notes.append("not saturated at %s/s offered: a lower bound" % fmt_int(r["offered_rate"]))
    if r.get("errors"):
        notes.append("%s errors" % fmt_int(r["errors"]))
    notes.append("busy: core 0 %s, core 1 %s" % (pct(r.get("server_core_busy")),
                                                pct(r.get("generator_core_busy"))))
    if tool == "idgate-load" and r.get("offered_rate"):
        notes.append("offered %s/s" % fmt_int(r["offered_rate"]))
    if r.get("hashes_per_call"):
        notes.append("%d hash per call" % r["hashes_per_call"])
    if r.get("note"):
        notes.append(r["note"])
    vs_nginx = cross = "–"
    if "cpu_per_req_vs_nginx" in r:
        vs_nginx = fmt_ratio(r["cpu_per_req_vs_nginx"]["ratio"])
    elif r["server"] == "nginx" and tool == "idgate-load":
        vs_nginx = "1 (reference)"
    if "cross_check" in r and r["cross_check"]["rate_ratio"] is not None:
        c = r["cross_check"]
        cross = "req/s %s; CPU/req %s (%s vs %s µs)" % (
            fmt_ratio(c["rate_ratio"]), fmt_ratio(c["cpu_per_req_ratio"]),
            fmt_int(c["wrk_cpu_us_per_req"]), fmt_int(c["idgate_load_cpu_us_per_req"]))
    return "| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, tool, fmt_int(r.get("achieved_rate")),
        fmt_int(r.get("server_cpu_us_per_req")), fmt_ms(p50), fmt_ms(p99),
        vs_nginx, cross, "; ".join(notes))


def handshake_line(e):
    """The "handshake (new minus keep-alive)" rows of perf/handshake.sh."""
    parts = []
    for o in e.get("outputs", []):
        for t in o.get("tables", []):
            for row in t:
                name = str(row.get("run", ""))
                m = re.match(r"\*\*(.*): the handshake", name)
                cpu = row.get("server CPU µs/answer")
                if m and cpu not in (None, ""):
                    parts.append("%s %s µs" % (m.group(1), str(cpu).strip("*")))
    return "; ".join(parts)


def capacity_line(cap):
    parts = []
    for name, s in cap.get("searches", {}).items():
        res = s.get("result") or {}
        st = res.get("status")
        if st == "found":
            parts.append("%s %s/s" % (name, fmt_int(res.get("rate"))))
        else:
            parts.append("%s %s (held %s/s)" % (name, st, fmt_int(res.get("rate"))))
    return "; ".join(parts)


def table(doc, json_path):
    run, m, s = doc, doc["machine"], doc["setup"]
    out = [BEGIN,
           "<!-- written by perf/summarize.py at each `make bench`: edits here are lost -->",
           "",
           "**Run:** %s (%s to %s UTC), commit %s%s, `%s`; every figure in `%s`." % (
               run.get("date"), (run.get("started_utc") or "?")[11:16],
               (run.get("finished_utc") or "?")[11:16], run.get("commit"),
               " (working tree modified)" if run.get("worktree_modified") else "",
               run.get("command"), json_path),
           "",
           "**Machine:** %s cores, %s, kernel %s." % (
               m.get("cores"), m.get("model_name"), m.get("kernel")),
           "",
           "**Set-up:** the server on core %s (idgated: one worker, 2 HSM threads; "
           "%s: one worker, TLS 1.3, X25519, no tickets), the load on core %s with %s "
           "connections.  idgate-load (open loop): a %s s probe, then %s s offering "
           "%s times the probe's throughput, so the server is saturated; req/s is the "
           "2xx answers per second inside the schedule.  wrk (%s, closed loop): "
           "`-t1 -c%s -d%ss`.  Server CPU per request: utime + stime of all the "
           "server's threads over the run, per 2xx answer." % (
               s.get("server_core"), s.get("nginx") or "nginx", s.get("generator_core"),
               s.get("connections"), s.get("probe_s"), s.get("duration_s"),
               s.get("offered_over_probe_throughput"), s.get("wrk") or "wrk",
               s.get("connections"), fmt_int(s.get("duration_s"))),
           "",
           "| scenario | tool | req/s | server CPU µs/req | p50 | p99 | "
           "CPU/req ÷ nginx's (same TLS mode) | wrk ÷ idgate-load: req/s; CPU/req | notes |",
           "|---|---|---|---|---|---|---|---|---|"]
    out += [row(r) for r in doc["scenarios"]]
    out += ["",
            "p50 and p99 are service times at saturation (from a connection taking "
            "the request to its answer, %s in flight; idgate-load's uncorrected "
            "latency, which for a new connection includes the connect and handshake, "
            "and wrk's latency): queueing at capacity, not latency at light load.  "
            "idgate-load is open loop and wrk closed loop, so the cross-check compares "
            "throughput at saturation and CPU per request, not latency; the corrected "
            "latencies are in the JSON.  busy: CPU time of the server (core 0) and of "
            "the load tool (core 1) over the run's wall time, its start and drain "
            "included." % s.get("connections")]
    cap = doc["earlier_benchmarks"].get("capacity.sh", {})
    line = capacity_line(cap)
    if line:
        out += ["", "find-capacity in the same run (`perf/capacity.sh`, %s): %s." % (
            next(iter(cap["searches"].values())).get("slo"), line)]
    ran = []
    for script, e in doc["earlier_benchmarks"].items():
        if e.get("exit_code") is None:
            ran.append("%s not run" % script)
        elif e["exit_code"]:
            ran.append("%s **failed** (exit %d)" % (script, e["exit_code"]))
        else:
            ran.append("%s ok" % script)
    hs = handshake_line(doc["earlier_benchmarks"].get("handshake.sh", {}))
    if hs:
        out += ["", "Server CPU per full TLS 1.3 handshake in the same run "
                "(`perf/handshake.sh`, new connection minus keep-alive, same request "
                "and rate): %s." % hs]
    out += ["", "Earlier benchmarks of this run (their tables are in the JSON under "
            "`earlier_benchmarks`): %s." % ", ".join(ran), "", END]
    return "\n".join(out)


def rewrite_md(path, block):
    text = read_text(path)
    if text is None:
        text = "# idgate benchmark results\n"
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        sec = "%s\n\n%s\n%s\n\n" % (SECTION, SECTION_TEXT, block)
        m = re.search(r"^## ", text, re.M)
        if m:
            text = text[:m.start()] + sec + text[m.start():]
        else:
            text = text.rstrip("\n") + "\n\n" + sec
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description="the day's results of a make bench run")
    ap.add_argument("outdir")
    ap.add_argument("--json", help="default perf/results/<date>.json")
    ap.add_argument("--md", default="perf/RESULTS.md")
    ap.add_argument("--since", type=float,
                    help="fold the earlier benchmarks' outputs written after this "
                         "time (s since the epoch; default the run's start)")
    a = ap.parse_args(argv[1:])
    if not os.path.exists(os.path.join(a.outdir, "run.meta")):
        print("summarize.py: no %s/run.meta: not a bench run" % a.outdir, file=sys.stderr)
        return 1
    doc = summarize(a.outdir, a.since)
    jpath = a.json or "perf/results/%s.json" % doc["date"]
    os.makedirs(os.path.dirname(jpath) or ".", exist_ok=True)
    with open(jpath + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(jpath + ".tmp", jpath)
    block = table(doc, jpath)
    rewrite_md(a.md, block)
    print("\n".join(block.splitlines()[2:-1]))
    print("\nwrote %s and the table of %s" % (jpath, a.md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

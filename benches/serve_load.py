#!/usr/bin/env python3
"""Load-step and swap-cost benchmarks of `frontier serve` (docs/BENCHMARKS.md).

    serve_load.py step  FRONTIER_BIN MANIFEST --slo-ms X [--backend ort] [--rate 20] [--duration 60]
                        [--policies frontier,...] [--runs N] OUT_DIR
    serve_load.py swaps FRONTIER_BIN MANIFEST --slo-ms X [--backend ort] [--requests 100000] [--swaps 1000] OUT_DIR

`step`: for each policy (most-accurate, fastest, mean-step = Dynamic-OFA's
rule, frontier) one server on loopback, open-loop requests at --rate for
--duration seconds; from 1/3 to 2/3 of the duration two CPU hogs run (busy
processes). Per policy: SLO miss rate, mean accuracy served, p50/p95/p99 of
end-to-end latency, failed requests, reaction time (load step to the first
request served by another model), recovery time (load gone to the first
request served by a model at least as accurate as the one serving at the
step) and a plot of latency and model over time (OUT_DIR/step.svg). With
--runs N each policy runs N times (the table then gives medians and the
recovery time of every run). The server's own `/v1/status` is polled every
0.25 s and kept per run (OUT_DIR/status-POLICY-RUN.jsonl), so a slow
recovery can be read off what the server predicted and why. `swaps`: the same request stream (closed loop, 2
clients) with and without a forced swap every N ms, to measure what swaps
cost requests. Everything runs on 127.0.0.1 and stops by itself.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


CONTENTION = []


def start_server(binary, manifest, slo, backend, policy, extra=()):
    tables = [a for t in CONTENTION for a in ("--contention-table", t)]
    p = subprocess.Popen(
        [binary, "serve", "--frontier", manifest, "--slo-ms", str(slo), "--backend", backend,
         "--listen", "127.0.0.1:0", "--json", "--switch-policy", policy, *tables, *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    log = []
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        log.append(line)
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("event") == "listening":
            threading.Thread(target=lambda: [log.append(l) for l in p.stderr], daemon=True).start()
            host, port = v["addr"].rsplit(":", 1)
            return p, (host, int(port)), log
    p.kill()
    sys.exit("server did not start:\n" + "".join(log))


def stop_server(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


class Client(threading.local):
    conn = None


def request(addr, body, local):
    t0 = time.perf_counter()
    try:
        if local.conn is None:
            local.conn = http.client.HTTPConnection(*addr, timeout=30)
        local.conn.request("POST", "/v1/infer", body, {"content-type": "application/octet-stream"})
        r = local.conn.getresponse()
        data = r.read()
        ok = r.status == 200
        model = r.getheader("x-frontier-model")
        server_ms = float(r.getheader("x-frontier-latency-ms") or "nan")
        handler_ms = float(r.getheader("x-frontier-server-ms") or "nan")
    except Exception as e:  # noqa: BLE001 - a failed request is a result
        local.conn = None
        ok, model, server_ms, handler_ms, data = False, None, float("nan"), float("nan"), str(e).encode()
    return ok, model, (time.perf_counter() - t0) * 1e3, server_ms, data if not ok else b"", handler_ms


def poll_status(addr, stop, out):
    """`/v1/status` every 0.25 s until `stop` is set: (client time s, the
    fields that say why the server serves what it serves)."""
    conn = None
    t0 = time.perf_counter()
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection(*addr, timeout=5)
            conn.request("GET", "/v1/status")
            st = json.loads(conn.getresponse().read())
            out.append({"t": round(time.perf_counter() - t0, 3), "model": st["current_model"],
                        "reason": st["reason"], "others_cpu": round(st["load"]["others_cpu"], 2),
                        "variants": [{k: v.get(k) for k in ("model", "predicted_p95_ms", "observed_p95_ms", "correction")}
                                     for v in st["variants"]]})
        except Exception:  # noqa: BLE001 - the server may be busy or stopping
            conn = None
        stop.wait(0.25)


def hogs(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] if v else float("nan")


def step(args):
    manifest = json.load(open(args.manifest))
    acc = {m["name"]: m["accuracy"] for m in manifest["models"]}
    n = len(manifest["input"]["shape"]) and 1
    for d in manifest["input"]["shape"]:
        n *= d
    body = b"\x00\x00\x00\x3f" * n  # 0.5f everywhere
    t_on, t_off = args.duration / 3, 2 * args.duration / 3
    results = {}
    os.makedirs(args.out, exist_ok=True)
    for policy, run in [(p, r) for p in args.policies.split(",") for r in range(args.runs)]:
        server, addr, log = start_server(args.binary, args.manifest, args.slo_ms, args.backend, policy)
        time.sleep(2)  # the load sampler's first rates
        stop_poll, statuses = threading.Event(), []
        poller = threading.Thread(target=poll_status, args=(addr, stop_poll, statuses), daemon=True)
        local = Client()
        records = []
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=32)
        start = time.perf_counter()
        poller.start()
        running = []

        def one(t_sched):
            ok, model, e2e, sms, err, hms = request(addr, body, local)
            with lock:
                records.append((t_sched, ok, model, e2e, sms, err, hms))

        i = 0
        while True:
            t = i / args.rate
            if t >= args.duration:
                break
            now = time.perf_counter() - start
            if t > now:
                time.sleep(t - now)
            if not running and t >= t_on and t < t_off:
                running = hogs(2)
            if running and t >= t_off:
                for h in running:
                    h.kill()
                running = []
            pool.submit(one, t)
            i += 1
        for h in running:
            h.kill()
        pool.shutdown(wait=True)
        stop_poll.set()
        poller.join()
        stop_server(server)
        with open(os.path.join(args.out, f"status-{policy}-{run}.jsonl"), "w") as f:
            for st in statuses:
                f.write(json.dumps(st) + "\n")
        records.sort()
        lat = [r[3] for r in records if r[1]]
        served = [r for r in records if r[1]]
        failed = len(records) - len(served)
        miss = sum(1 for r in served if r[3] > args.slo_ms) + failed
        # As the server measures it (inference and resizing, no HTTP or client).
        server_miss = sum(1 for r in served if r[4] > args.slo_ms) + failed
        slat = [r[4] for r in served]
        # Reaction: from the load step to the first request served by a less
        # accurate (faster) model than the one serving when the load came.
        before = [r[2] for r in served if r[0] < t_on]
        at_step = before[-1] if before else None
        react = next((r[0] - t_on for r in served
                      if r[0] >= t_on and at_step in acc and acc.get(r[2], 1e18) < acc[at_step]), None)
        # Recovery: from the load's end to the first request served by a
        # model at least as accurate as the one serving at the step.
        recover = next((r[0] - t_off for r in served
                        if r[0] >= t_off and at_step in acc and acc.get(r[2], -1e18) >= acc[at_step]), None)
        key = policy if args.runs == 1 else f"{policy}#{run}"
        results[key] = {
            "requests": len(records), "failed": failed,
            "slo_miss_rate": miss / max(1, len(records)),
            "server_slo_miss_rate": server_miss / max(1, len(records)),
            "server_p50_ms": pct(slat, 0.5), "server_p95_ms": pct(slat, 0.95), "server_p99_ms": pct(slat, 0.99),
            "mean_accuracy": statistics.mean(acc.get(r[2], float("nan")) for r in served) if served else None,
            "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "p99_ms": pct(lat, 0.99),
            "under_load_p95_ms": pct([r[3] for r in served if t_on <= r[0] < t_off], 0.95),
            "reaction_s": react,
            "recovery_s": recover,
            "model_at_step": at_step,
            "models_served": sorted(set(r[2] for r in served)),
            # (scheduled s, end-to-end ms, model, the server's request ms
            # (resizing and inference), its handler ms (HTTP included)).
            "timeline": [(r[0], r[3], r[2], r[4], r[6]) for r in served],
            "errors": sorted(set(r[5].decode(errors="replace")[:200] for r in records if not r[1]))[:5],
        }
        r = results[key]
        loaded_miss = sum(1 for x in served if t_on <= x[0] < t_off and x[3] > args.slo_ms) + \
            sum(1 for x in records if not x[1] and t_on <= x[0] < t_off)
        r["under_load_miss_rate"] = loaded_miss / max(1, sum(1 for x in records if t_on <= x[0] < t_off))
        print(f"{key:>15}: miss {r['slo_miss_rate']*100:5.1f}% (server-side {r['server_slo_miss_rate']*100:5.1f}%, "
              f"loaded {r['under_load_miss_rate']*100:5.1f}%)  acc {r['mean_accuracy']:.2f}  "
              f"p50 {r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}  p99 {r['p99_ms']:.1f} ms  failed {failed}  "
              f"reaction {react if react is None else round(react, 2)} s  "
              f"recovery {recover if recover is None else round(recover, 2)} s (to {at_step})", flush=True)
    summary = {}
    for policy in args.policies.split(","):
        runs = [v for k, v in results.items() if k.split("#")[0] == policy]
        rec = [v["recovery_s"] for v in runs]
        summary[policy] = {
            "runs": len(runs),
            "recovery_s": rec,
            "recovered_within_3s": sum(1 for x in rec if x is not None and x <= 3.0),
            "median_miss_rate": statistics.median(v["slo_miss_rate"] for v in runs),
            "median_under_load_miss_rate": statistics.median(v["under_load_miss_rate"] for v in runs),
            "median_mean_accuracy": statistics.median(v["mean_accuracy"] for v in runs if v["mean_accuracy"] is not None),
            "failed": sum(v["failed"] for v in runs),
            "reaction_s": [v["reaction_s"] for v in runs],
        }
        if len(runs) > 1:
            print(f"{policy}: {json.dumps(summary[policy])}", flush=True)
    json.dump({"slo_ms": args.slo_ms, "rate": args.rate, "duration": args.duration, "hogs": [t_on, t_off],
               "accuracy": acc, "summary": summary, "results": results},
              open(os.path.join(args.out, "step.json"), "w"), indent=1)
    first = {}
    for k, v in results.items():
        first.setdefault(k.split("#")[0], v)
    open(os.path.join(args.out, "step.svg"), "w").write(plot(first, acc, args, t_on, t_off))


def plot(results, acc, args, t_on, t_off):
    """Latency (top) and the model's accuracy rank (bottom) over time, per policy."""
    W, H, L, R, T = 900, 620, 70, 170, 40
    colors = {"most-accurate": "#d62728", "fastest": "#2ca02c", "mean-step": "#9467bd", "frontier": "#1f77b4"}
    ymax = max(args.slo_ms * 3, max((pct([x[1] for x in r["timeline"]], 0.99) for r in results.values()), default=1))
    names = sorted(acc, key=acc.get)
    px = lambda t: L + t / args.duration * (W - L - R)
    top_h, bot_y, bot_h = 330, T + 360, 180
    py = lambda ms: T + top_h - min(ms, ymax) / ymax * top_h
    pm = lambda m: bot_y + bot_h - (names.index(m) / max(1, len(names) - 1)) * bot_h if m in names else bot_y + bot_h
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">Load step: 2 CPU hogs from {t_on:.0f} s to {t_off:.0f} s (SLO {args.slo_ms} ms, {args.rate} req/s)</text>',
         f'<rect x="{px(t_on)}" y="{T}" width="{px(t_off)-px(t_on)}" height="{bot_y+bot_h-T}" fill="#f3f3f3"/>',
         f'<line x1="{L}" x2="{W-R}" y1="{py(args.slo_ms)}" y2="{py(args.slo_ms)}" stroke="black" stroke-dasharray="5,4"/>',
         f'<text x="{W-R+4}" y="{py(args.slo_ms)+4}">SLO</text>']
    for y in [0, ymax / 2, ymax]:
        s.append(f'<text x="{L-6}" y="{py(y)+4}" text-anchor="end">{y:.0f}</text>')
    s.append(f'<text x="16" y="{T+top_h/2}" transform="rotate(-90 16 {T+top_h/2})" text-anchor="middle">end-to-end latency (ms)</text>')
    s.append(f'<text x="16" y="{bot_y+bot_h/2}" transform="rotate(-90 16 {bot_y+bot_h/2})" text-anchor="middle">model (by accuracy)</text>')
    for t in range(0, int(args.duration) + 1, 10):
        s.append(f'<text x="{px(t)}" y="{bot_y+bot_h+18}" text-anchor="middle">{t}</text>')
    s.append(f'<text x="{(L+W-R)/2}" y="{H-8}" text-anchor="middle">time (s)</text>')
    s.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{T+top_h}" stroke="black"/><line x1="{L}" x2="{W-R}" y1="{T+top_h}" y2="{T+top_h}" stroke="black"/>')
    s.append(f'<line x1="{L}" x2="{L}" y1="{bot_y}" y2="{bot_y+bot_h}" stroke="black"/><line x1="{L}" x2="{W-R}" y1="{bot_y+bot_h}" y2="{bot_y+bot_h}" stroke="black"/>')
    for i, (policy, r) in enumerate(results.items()):
        c = colors[policy]
        # Latency: p95 per 1 s bin.
        bins = {}
        for t, ms, *_ in r["timeline"]:
            bins.setdefault(int(t), []).append(ms)
        pts = " ".join(f"{px(b+0.5):.1f},{py(pct(v, 0.95)):.1f}" for b, v in sorted(bins.items()))
        s.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.8"/>')
        steps = []
        for t, _, m, *_ in r["timeline"]:
            y = pm(m) + (i - 1.5) * 3
            if steps:
                steps.append(f"{px(t):.1f},{steps[-1].split(',')[1]}")
            steps.append(f"{px(t):.1f},{y:.1f}")
        s.append(f'<polyline points="{" ".join(steps)}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        s.append(f'<line x1="{W-R+10}" x2="{W-R+30}" y1="{T+20+i*18}" y2="{T+20+i*18}" stroke="{c}" stroke-width="3"/>'
                 f'<text x="{W-R+36}" y="{T+24+i*18}">{policy}</text>')
    s.append(f'<text x="{W-R+10}" y="{T+110}">top: p95 per second</text>')
    s.append("</svg>")
    return "\n".join(s)


def swaps(args):
    manifest = json.load(open(args.manifest))
    n = 1
    for d in manifest["input"]["shape"]:
        n *= d
    body = b"\x00\x00\x00\x3f" * n
    out = {}
    # Two copies of each model (--threads 1,1): the forced swaps go back and
    # forth between the two copies of the fastest, so the requests' latency
    # changes only by what swapping costs.
    for label, extra in [("no swaps", ["--threads", "1,1"]),
                         ("forced swaps", ["--threads", "1,1", "--force-swap-every-ms", str(args.swap_every_ms)])]:
        server, addr, log = start_server(args.binary, args.manifest, args.slo_ms, args.backend, "fastest", extra)
        lat = []
        failed = [0]
        lock = threading.Lock()
        per = args.requests // 2

        def client():
            local = Client()
            mine = []
            for _ in range(per):
                ok, model, e2e, sms, err, _ = request(addr, body, local)
                if ok:
                    mine.append(sms)
                else:
                    with lock:
                        failed[0] += 1
            with lock:
                lat.extend(mine)

        t0 = time.time()
        ts = [threading.Thread(target=client) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.time() - t0
        c = http.client.HTTPConnection(*addr, timeout=10)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        stop_server(server)
        swaps_n = next((float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("frontier_serve_switches_total")), 0)
        swap_max = next((float(l.split()[-1]) for l in metrics.splitlines() if l.startswith('frontier_serve_swap_seconds{stat="max"}')), 0)
        swap_mean = next((float(l.split()[-1]) for l in metrics.splitlines() if l.startswith('frontier_serve_swap_seconds{stat="mean"}')), 0)
        swap_p99 = next((float(l.split()[-1]) for l in metrics.splitlines() if l.startswith('frontier_serve_swap_seconds{stat="p99"}')), 0)
        out[label] = {"requests": len(lat) + failed[0], "failed": failed[0], "seconds": wall, "swaps": swaps_n,
                      "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "swap_max_us": swap_max * 1e6, "swap_mean_us": swap_mean * 1e6, "swap_p99_us": swap_p99 * 1e6}
        print(f"{label:>13}: {out[label]}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    json.dump(out, open(os.path.join(args.out, "swaps.json"), "w"), indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["step", "swaps"])
    ap.add_argument("binary")
    ap.add_argument("manifest")
    ap.add_argument("out")
    ap.add_argument("--slo-ms", type=float, required=True)
    ap.add_argument("--backend", default="ort")
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--swap-every-ms", type=int, default=200)
    ap.add_argument("--policies", default="most-accurate,fastest,mean-step,frontier",
                    help="step: the switch policies to run, comma-separated")
    ap.add_argument("--runs", type=int, default=1, help="step: runs per policy")
    ap.add_argument("--contention-table", action="append", default=[],
                    help="profile --contention rows for the frontier's models (passed to every server)")
    args = ap.parse_args()
    CONTENTION.extend(args.contention_table)
    step(args) if args.mode == "step" else swaps(args)


if __name__ == "__main__":
    main()

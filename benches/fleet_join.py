#!/usr/bin/env python3
"""The fleet loop's goals on this machine (docs/BENCHMARKS.md).

    fleet_join.py BIN_DIR OUT_DIR [--eval-dir DIR] [--budget 15m] [--target 0.95]

BIN_DIR holds release builds of `frontier` and `frontier-collector`. Every
server listens on 127.0.0.1 and everything stops by itself.

1. **join**: a new board joins. A fresh collector (SQLite, its trainer with
   `--train-quiet 5s`); `frontier agent --backend ort` on this machine
   starts (its canaries run first, as the collector queues them); an
   operator queues one `--active --budget BUDGET --target TARGET` job. The
   collector plans the batches; the trainer trains on its own. Reported:
   the time from the agent's start to the first fresh predictor whose
   cross-validated share within ±10% is at least TARGET on at least 16 rows
   (the planner's own minimum), its rows, and the job's end.
2. **neighbour**: the same, on another fresh collector that already holds a
   similar board's predictor: the rows of step 1 uploaded under another
   device id (this machine's own rows, from an earlier invocation), which
   the trainer turns into that board's predictor first. Reported: rows and
   time until the new board's fresh predictor reaches TARGET, and whether
   the plan transferred from the neighbour.
3. **honest**: each final predictor (`frontier predict --predictor
   collector:URL?device=...`) against a later invocation: the subnets of
   --eval-dir (PyTorch exports with an index.json, benches/torch_ofa_subnets.py)
   or, without it, 20 subnets the agent generates with another seed,
   profiled by `frontier profile --backend ort` after the agent stopped,
   with the reference subnets beside them; `predict --archs TABLE` puts
   the predictions on that invocation's scale (the offset is reported).
   Reported beside the predictor's own cross-validated figures.
4. **runtime**: the board of step 1 restarts its agent with another ONNX
   Runtime (FRONTIER_ORT_OTHER, a libonnxruntime.so of another version):
   its start queues the canaries, their rows start a new cohort, and the
   old predictor turns stale. Reported: seconds from the restart to
   `stale: true`, and the reason the collector gives.

Writes OUT_DIR/fleet_join.json and the logs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def http(url, token, method="GET", body=None):
    req = urllib.request.Request(url, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, data=data, timeout=30) as r:
        return r.read().decode()


def jget(url, token):
    return json.loads(http(url, token))


class Collector:
    def __init__(self, bins, data, log):
        self.bins, self.data = bins, data
        self.tokens = {
            role: self.cmd("token", "create", "--role", role).strip()
            for role in ("device", "reader", "operator")
        }
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [f"{bins}/frontier-collector", "serve", "--listen", "127.0.0.1:0",
             "--data-dir", data, "--train-quiet", "5s", "--train-max-wait", "30s"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        self.url = line.strip().split(" ")[-1]
        assert self.url.startswith("http://"), line

    def cmd(self, *args):
        out = subprocess.run([f"{self.bins}/frontier-collector", *args, "--data-dir", self.data],
                             capture_output=True, text=True, check=True)
        return out.stdout

    def predictors(self, device, fresh=True):
        q = urllib.parse.urlencode({"device": device, **({"fresh": "true"} if fresh else {})})
        try:
            return jget(f"{self.url}/v1/predictors?{q}", self.tokens["reader"])
        except urllib.error.HTTPError:
            return []

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def start_agent(bins, coll, state, name, log, ort_lib=None):
    os.makedirs(state, exist_ok=True)
    tok = os.path.join(state, "..", f"{name}.token")
    with open(tok, "w") as f:
        f.write(coll.tokens["device"])
    os.chmod(tok, 0o600)
    env = dict(os.environ, FRONTIER_STATE_DIR=state)
    if ort_lib:
        env["ORT_DYLIB_PATH"] = ort_lib
    return subprocess.Popen(
        [f"{bins}/frontier", "agent", "--collector", coll.url, "--token-file", tok,
         "--device-name", name, "--backend", "ort", "--poll", "5s",
         # A shared machine: others may use up to half of it.
         "--idle-others", "50", "--idle-pressure", "50"],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)


def wait_for(what, limit_s, f, every=2.0):
    end = time.time() + limit_s
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"not within {limit_s} s: {what}")


def device_of(coll, name):
    def find():
        for d in jget(f"{coll.url}/v1/devices", coll.tokens["reader"]):
            if d.get("name") == name:
                return d["device_id"]
        return None
    return wait_for(f"{name} enrolled", 120, find)


def join(bins, coll, state, name, log, budget, target):
    """Start an agent, queue an active job, wait for a fresh predictor at
    the target (≥ 16 rows); returns the figures and the agent."""
    t0 = time.time()
    agent = start_agent(bins, coll, state, name, log)
    device = device_of(coll, name)
    job = coll.cmd("job", "create", "--device", device, "--space", "ofa-mbv3", "--active",
                   "--budget", budget, "--target", str(target), "--backend", "ort").strip()
    reached = None
    ended = None
    limit = 60 * 30
    while time.time() - t0 < limit:
        for p in coll.predictors(device):
            m = p.get("metrics") or {}
            if p["rows"] >= 16 and m.get("within_10pct", 0) >= target:
                reached = {"seconds": round(time.time() - t0, 1), "rows": p["rows"],
                           "predictor": p["id"], "kind": p["kind"], "from": p.get("from"),
                           "cv_within_10pct": m.get("within_10pct"),
                           "cv_within_5pct": m.get("within_5pct"),
                           "cv_mape": m.get("mape"), "cv_tau": m.get("kendall_tau")}
                break
        jobs = jget(f"{coll.url}/v1/jobs?device={device}", coll.tokens["reader"])
        active = [j for j in jobs if j["id"] == job][0]
        if reached and active["state"] in ("done", "failed"):
            break
        if active["state"] in ("done", "failed") and not reached:
            # The job ended short of the target by the trainer's figures:
            # give the trainer its quiet period once more, then stop.
            if ended is None:
                ended = time.time()
            elif time.time() - ended > 40:
                break
        time.sleep(3)
    jobs = jget(f"{coll.url}/v1/jobs?device={device}", coll.tokens["reader"])
    return device, reached, [j for j in jobs if j["id"] == job][0], agent, t0


def stop_agent(agent):
    agent.terminate()
    try:
        agent.wait(timeout=300)
    except subprocess.TimeoutExpired:
        agent.kill()


def honest(bins, coll, device, work, eval_dir, seed, out):
    """A later invocation's subnets against the collector's predictor."""
    table = os.path.join(work, f"eval-{seed}.jsonl")
    env = dict(os.environ, FRONTIER_STATE_DIR=os.path.join(work, "eval-state"))
    if eval_dir:
        models = [os.path.join(eval_dir, m["file"])
                  for m in json.load(open(os.path.join(eval_dir, "index.json")))["models"]]
        args = [*models, "--references", "ofa-mbv3"]  # manifest.jsonl gives the archs
    else:
        args = ["--space", "ofa-mbv3", "--samples", "20", "--seed", str(seed)]
    subprocess.run([f"{bins}/frontier", "profile", *args, "--backend", "ort", "--out", table],
                   env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=open(os.path.join(out, f"eval-{seed}.log"), "w"))
    # `predict --archs TABLE` leaves out the table's reference rows and puts
    # its predictions on the table's scale by them (the predictor keeps the
    # references of the rows it was trained on).
    rows = [json.loads(l) for l in open(table) if l.strip()]
    rows = [r for r in rows if r.get("arch") and not r.get("reference")]
    src = f"collector:{coll.url}?device={device}&backend=ort"
    pred = subprocess.run([f"{bins}/frontier", "predict", "--predictor", src, "--archs", table, "--json"],
                          env=dict(env, FRONTIER_TOKEN=coll.tokens["reader"]),
                          capture_output=True, text=True, check=True)
    preds = [json.loads(l) for l in pred.stdout.splitlines() if l.strip()]
    errs, inside = [], 0
    for r, p in zip(rows, preds):
        truth = r.get("median_ms_corrected") or r["median_ms"]
        errs.append(p["predicted_ms"] / truth - 1)
        lo, hi = p["interval_ms"]
        inside += lo <= truth <= hi
    n = len(errs)
    t = [r.get("median_ms_corrected") or r["median_ms"] for r in rows]
    pm = [p["predicted_ms"] for p in preds]
    c = d = 0
    for i in range(n):
        for j in range(i + 1, n):
            s = (t[i] - t[j]) * (pm[i] - pm[j])
            c += s > 0
            d += s < 0
    return {"subnets": n, "within_10pct": sum(abs(e) <= 0.10 for e in errs) / n,
            "within_5pct": sum(abs(e) <= 0.05 for e in errs) / n,
            "mape": sum(abs(e) for e in errs) / n, "tau": (c - d) / max(1, c + d),
            "interval_coverage": inside / n, "mean_error": sum(errs) / n,
            "invocation_offset": preds[0].get("invocation_offset") if preds else None,
            "used": pred.stderr.strip().splitlines()[-1] if pred.stderr.strip() else ""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins")
    ap.add_argument("out")
    ap.add_argument("--eval-dir")
    ap.add_argument("--budget", default="15m")
    ap.add_argument("--target", type=float, default=0.95)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="frontier-fleet-join-")
    result = {"date": time.strftime("%Y-%m-%d"), "budget": a.budget, "target": a.target}
    try:
        # 1. A new board.
        c1 = Collector(a.bins, os.path.join(work, "c1"), os.path.join(a.out, "collector1.log"))
        d1, reached, job, agent, _ = join(a.bins, c1, os.path.join(work, "board"), "new-board",
                                          os.path.join(a.out, "agent1.log"), a.budget, a.target)
        stop_agent(agent)
        result["join"] = {"reached": reached, "job": {"state": job["state"], "outcome": job.get("outcome")},
                          "final": (c1.predictors(d1) or [None])[0]}
        print(json.dumps(result["join"], indent=1), flush=True)
        result["join"]["later_invocation"] = honest(a.bins, c1, d1, work, a.eval_dir, 901, a.out)
        print(json.dumps(result["join"]["later_invocation"], indent=1), flush=True)

        # 4. A runtime change on that board.
        other = os.environ.get("FRONTIER_ORT_OTHER")
        if other:
            t0 = time.time()
            agent = start_agent(a.bins, c1, os.path.join(work, "board"), "new-board",
                                os.path.join(a.out, "agent1-other-ort.log"), ort_lib=other)
            stale = wait_for("the predictor stale", 1800, lambda: next(
                (p for p in c1.predictors(d1, fresh=False)[:1] if p["stale"]), None), every=2)
            result["runtime"] = {"seconds_to_stale": round(time.time() - t0, 1),
                                 "stale_reason": stale["stale_reason"], "ort": other}
            stop_agent(agent)
            cohorts = jget(f"{c1.url}/v1/cohorts?device={d1}", c1.tokens["reader"])
            result["runtime"]["shifts"] = [s for c in cohorts for s in c.get("shifts", [])][:1]
            print(json.dumps(result["runtime"], indent=1), flush=True)
        rows = http(f"{c1.url}/v1/rows?device={d1}", c1.tokens["reader"])
        first_version = result["join"]["final"]["cohort"]["backend_version"]
        c1.stop()

        # 2. A board with a similar board's predictor in the collector.
        c2 = Collector(a.bins, os.path.join(work, "c2"), os.path.join(a.out, "collector2.log"))
        neighbour = os.path.join(work, "neighbour.jsonl")
        with open(neighbour, "w") as f:
            for line in rows.splitlines():
                r = json.loads(line)
                # The neighbour is the board before its runtime change.
                if r.get("backend_version") != first_version:
                    continue
                r["device_id"] = "neighbour-0001"
                r["hostname"] = "neighbour"
                r.pop("row_id", None)
                f.write(json.dumps(r) + "\n")
        subprocess.run([f"{a.bins}/frontier", "upload", c2.url, neighbour, "--token", c2.tokens["device"]],
                       env=dict(os.environ, FRONTIER_STATE_DIR=os.path.join(work, "uploader")),
                       check=True, capture_output=True)
        wait_for("the neighbour's predictor", 300, lambda: c2.predictors("neighbour-0001"))
        d2, reached2, job2, agent, _ = join(a.bins, c2, os.path.join(work, "board2"), "new-board",
                                            os.path.join(a.out, "agent2.log"), a.budget, a.target)
        stop_agent(agent)
        result["neighbour"] = {"reached": reached2,
                               "job": {"state": job2["state"], "outcome": job2.get("outcome")},
                               "final": (c2.predictors(d2) or [None])[0]}
        print(json.dumps(result["neighbour"], indent=1), flush=True)
        result["neighbour"]["later_invocation"] = honest(a.bins, c2, d2, work, a.eval_dir, 902, a.out)
        print(json.dumps(result["neighbour"]["later_invocation"], indent=1), flush=True)
        c2.stop()
    finally:
        with open(os.path.join(a.out, "fleet_join.json"), "w") as f:
            json.dump(result, f, indent=1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

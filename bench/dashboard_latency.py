#!/usr/bin/env python3
"""Latency of the dashboard's data under `retain serve`: every page of the newest analysis, the
at-risk table (default order, a segment with a risk threshold, other orders, a deep page) and a
customer page, each requested REQUESTS times in turn on one connection; p50, p95 and max in ms
against the target (issue 17: p95 <= 200 ms with 1M customers on 2 cores).

    bench/dashboard_latency.py http://127.0.0.1:18089 [--token T] [--requests 30]
Standard library only.
"""
import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse

TARGET_MS = 200.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--token")
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}

    def get(path):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        ms = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200:
            sys.exit(f"{path}: {resp.status} {body[:300]!r}")
        return ms, body

    _, body = get("/v1/analyses")
    analysis = json.loads(body)["analyses"][0]
    aid = analysis["analysis_id"]
    base = f"/v1/analyses/{aid}"
    _, body = get(f"{base}/pages/at-risk")
    segments = json.loads(body).get("filters", {}).get("segments", [])
    _, body = get(f"{base}/customers?limit=1")
    first = json.loads(body)["rows"][0]["customer_id"]
    paths = [("analyses", "/v1/analyses")]
    paths += [(f"page {p}", f"{base}/pages/{p}") for p in analysis["pages"]]
    paths += [
        ("at-risk, default order", f"{base}/customers?limit=100"),
        ("at-risk, by CLV", f"{base}/customers?limit=100&sort=clv"),
        ("at-risk, by churn risk ascending", f"{base}/customers?limit=100&sort=churn_risk&order=asc"),
        ("at-risk, page 100", f"{base}/customers?limit=100&offset=10000"),
        ("customer page", f"{base}/customers/{urllib.parse.quote(first)}"),
    ]
    if segments:
        s = urllib.parse.quote(segments[0])
        paths.append((f"at-risk, {segments[0]} with risk >= 0.5", f"{base}/customers?limit=100&segment={s}&min_churn_risk=0.5"))
        paths.append((f"at-risk, {segments[-1]} with value >= 100", f"{base}/customers?limit=100&segment={urllib.parse.quote(segments[-1])}&min_value=100"))
    worst = 0.0
    print(f"analysis {aid}: {analysis['customers']:,} customers; {args.requests} requests each")
    print(f"{'request':<44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>7}")
    for name, path in paths:
        times = []
        for _ in range(args.requests):
            ms, body = get(path)
            times.append(ms)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        worst = max(worst, p95)
        print(f"{name:<44} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f} {len(body) / 1024:7.0f}")
    print(json.dumps({"tool": "retain", "stage": "dashboard_latency", "customers": analysis["customers"],
                      "worst_p95_ms": round(worst, 1), "target_ms": TARGET_MS, "met": worst <= TARGET_MS}))


if __name__ == "__main__":
    main()

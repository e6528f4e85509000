#!/usr/bin/env python3
"""lifetimes on a summary file, stage by stage, for bench/btyd.sh (one JSON line per stage).

Usage: btyd_peers.py SUMMARY_CSV   (columns frequency, recency, T, monetary_value; weeks)
Stages as in the shared peers.py: BG/NBD fit, Pareto/NBD fit on the first 100,000 customers,
Gamma-Gamma fit on repeat customers, and scoring every customer (expected purchases over 39 weeks, P(alive), 12-month CLV at 1% a month).
"""
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

s = pd.read_csv(sys.argv[1])
f, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
def line(stage, seconds, **kw):
    print(json.dumps({"tool": "lifetimes", "stage": stage, "seconds": round(seconds, 3), "customers": len(s), **kw}), flush=True)
t = time.perf_counter(); bgf = BetaGeoFitter().fit(f, r, T)
line("fit_bgnbd", time.perf_counter() - t, params={k: float(v) for k, v in bgf.params_.items()})
head = s.iloc[:100_000]
t = time.perf_counter(); pnf = ParetoNBDFitter().fit(head["frequency"], head["recency"], head["T"])
line("fit_pareto_nbd_100k", time.perf_counter() - t, customers=len(head), params={k: float(v) for k, v in pnf.params_.items()})
rep = s[f > 0]
t = time.perf_counter(); ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
line("fit_gg", time.perf_counter() - t, params={k: float(v) for k, v in ggf.params_.items()})
t = time.perf_counter()
e = bgf.conditional_expected_number_of_purchases_up_to_time(39, f, r, T)
p = bgf.conditional_probability_alive(f, r, T)
clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=12, discount_rate=0.01, freq="W")
line("score", time.perf_counter() - t, expected=float(e.sum()), p_alive=float(p.mean()), clv=float(clv.sum()))

#!/usr/bin/env python3
"""Makes summary_lifetimes.csv, the reference summary of the Online Retail log, with lifetimes.

Run once (not by the tests), in a venv with lifetimes 0.11.3 and pandas:
    python3 data/online_retail/make_fixture.py data/online_retail/online_retail.csv.gz \
        > data/online_retail/summary_lifetimes.csv

The rules are retain's documented ones for this log (README, "Online Retail"):
- rows without a CustomerID are anonymous purchases: excluded;
- amount = Quantity * UnitPrice; rows with a negative amount (all cancellation invoices "C...",
  and adjustments) are excluded; zero amounts are kept;
- the calendar day of InvoiceDate is the transaction date (the time of day is dropped).
Calibration end 2011-09-30, observation end 2011-12-09 (the last day of the log), unit days.

lifetimes' monetary_value_holdout is the mean of the holdout *input rows*, while its calibration
monetary value is the mean of the *same-day merged* amounts. retain uses merged days for both
(DESIGN.md: one customer's transactions of one day count as one), so the rows are merged per
customer and day before lifetimes sees them; for every other column this changes nothing, which
the script asserts by also running lifetimes on the unmerged rows.
"""
import sys
import numpy as np
import pandas as pd
from lifetimes.utils import calibration_and_holdout_data

CAL, OBS = "2011-09-30", "2011-12-09"

raw = pd.read_csv(sys.argv[1], dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str}, keep_default_na=False)
assert len(raw) == 541909
rows = raw[raw["CustomerID"].str.strip() != ""].copy()
rows["amount"] = rows["Quantity"].astype(float) * rows["UnitPrice"].astype(float)
rows = rows[rows["amount"] >= 0]
rows["date"] = pd.to_datetime(rows["InvoiceDate"].str[:10])
rows = rows[["CustomerID", "date", "amount"]]

merged = rows.groupby(["CustomerID", "date"], as_index=False)["amount"].sum()
kw = dict(calibration_period_end=CAL, observation_period_end=OBS, freq="D", freq_multiplier=1,
          monetary_value_col="amount")
ref = calibration_and_holdout_data(merged, "CustomerID", "date", **kw)
unmerged = calibration_and_holdout_data(rows, "CustomerID", "date", **kw)
for c in ["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal", "frequency_holdout", "duration_holdout"]:
    np.testing.assert_allclose(ref[c].values, unmerged.loc[ref.index, c].values, rtol=1e-12, err_msg=c)

ref = ref.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T",
                          "monetary_value_cal": "monetary_value"})
ref.index.name = "customer_id"
ref["frequency"] = ref["frequency"].astype(int)
ref["frequency_holdout"] = ref["frequency_holdout"].astype(int)
cols = ["frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_value_holdout", "duration_holdout"]
sys.stdout.write(f"# lifetimes 0.11.3 calibration_and_holdout_data, pandas {pd.__version__}; made by make_fixture.py\n")
ref[cols].to_csv(sys.stdout, float_format="%.17g")

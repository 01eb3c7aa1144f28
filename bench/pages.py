"""``pages``: the portal pages a user lands on often, each against stock JupyterHub's home (issue 27).

The same two hubs, population and seeding as ``home`` (bench/home.py). Measured on Hubfront: Notebooks,
Jobs, Deployments, the Shared Files listing and Apps, for the measured user with their first group in
focus; on stock: its home, the page every stock user lands on (stock has none of these pages). Each round
times every Hubfront page right beside a request of stock's home (stock, page, stock, next page, …; the other
way round the next round; ``bench.stats.paired``), on keep-alive sessions through the proxies: every page is
measured at the same moments as stock's home, and no Hubfront page follows another (whose warm caches it
would find). Each page's ratio is its p50 over stock's
home p50; the line's ``ratio`` is the worst page's. Target: every page within ``TARGET`` of stock's home.
"""

from __future__ import annotations

import time

from .home import check_page, fmt, once, populated_pair, sample, settings
from .stats import Line, paired, percentile, ratio, summary

TARGET = 1.25  # p50 of each page over stock's home p50

# name, path, what the page shows when it is that page (not an error or a redirect)
PAGES = [
    ("notebooks", "/hub/portal/notebooks", 'id="hf-notebooks"'),
    ("jobs", "/hub/portal/jobs", 'id="hf-job-form"'),
    ("deployments", "/hub/portal/deployments", 'id="hf-deployments-page"'),
    ("files", "/hub/portal/files", 'id="hf-files-page"'),
    ("apps", "/hub/portal/apps", 'id="hf-apps-page"'),
]


def run(args) -> str:
    conf = settings(args)  # the home benchmark's sampling options (--home-rounds, --home-requests, ...)
    with populated_pair(args) as (hf, st, sessions, info):
        contenders = [("stock-home", st, "/hub/home")] + [(name, hf, path) for name, path, _ in PAGES]
        for name, path, marker in PAGES:
            check_page(hf, sessions[hf], path, marker)
        for _name, hub, path in contenders:
            sample(sessions[hub], path, conf["warmup"])
        deadline = time.monotonic() + conf["budget_s"] * 5  # ten requests a turn where home has two
        samples = paired(conf["rounds"], contenders[0], contenders[1:], lambda c: once(sessions[c[1]], c[2]),
                         conf["requests"], deadline)
    stock = samples[contenders[0]]
    base = percentile(stock, 50)
    ratios = {name: ratio(percentile(samples[c], 50), base) for c in contenders[1:] for name in [c[0]]}
    worst = max(ratios, key=ratios.get)
    parts = " ".join(f"{c[0]}={fmt(samples[c])} ({ratios[c[0]]:.2f})" for c in contenders[1:])
    text = (f"pages: stock-home={fmt(stock)} {parts} "
            f"ratio=max p50 {ratios[worst]:.2f} ({worst}) target<={TARGET:.2f}")
    return Line(text, {
        "stock_home": summary(stock), "pages": {c[0]: summary(samples[c]) for c in contenders[1:]},
        "ratio": ratios, "worst": worst, "target": TARGET, "ok": ratios[worst] <= TARGET,
        "paths": {name: path for name, path, _ in PAGES}, "settings": conf, **info,
    })

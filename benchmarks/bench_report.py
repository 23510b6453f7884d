"""The HTML report of a whole-library run: its size, and how long headless Chromium takes to open it
and run its script.

    python -m benchmarks.bench_report RESULTS.json [--repeat 5] [--json PATH]

The report is rendered afresh from RESULTS.json (`conformance report`). Chromium, where installed
(`chromium`, `chromium-browser`, `chromium-headless-shell` or `google-chrome` on PATH), loads it with `--headless --dump-dom`,
which returns once the page has loaded and its script has run; the time of the same command on an
empty page is measured in alternation and subtracted, leaving the page's own load and script time
(browser start-up aside). The dumped DOM must show that the script ran: the groups counter written
(an unsupported group's case list is drawn only when the group is opened, so the dump has none).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--dump-dom"]


def load_time(browser: str, page: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([browser, *FLAGS, page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    return time.perf_counter() - start, done.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_report", description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", default="reports/benchmarks-report.json")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="conformance-bench-report-"))
    page, empty = tmp / "report.html", tmp / "empty.html"
    subprocess.run([sys.executable, "-m", "conformance", "report", args.results, "-o", str(page)], check=True)
    empty.write_text("<!doctype html><title>empty</title>", encoding="utf-8")
    out = {"results": args.results, "bytes": page.stat().st_size}
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser:
        pairs, dom = [], ""
        for _ in range(args.repeat):  # alternating: the machine's drift hits both sides alike
            full, dom = load_time(browser, page)
            blank, _ = load_time(browser, empty)
            pairs.append((full, blank))
        filled = re.search(r'id="groups-shown"[^>]*>(\d+) of (\d+) groups shown<', dom)
        out.update(browser=browser, seconds_with_startup=[round(f, 2) for f, _ in pairs],
                   seconds_empty_page=[round(b, 2) for _, b in pairs],
                   page_seconds_median=round(statistics.median(f - b for f, b in pairs), 2),
                   script_ran=bool(filled))
    print(json.dumps(out, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

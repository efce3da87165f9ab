"""Benchmark: Lighthouse scores (mobile, simulated throttling) for the main pages, against targets.

Serves a fresh demo site under gunicorn (as bench/pageweight.py does), then runs the Lighthouse
pinned in bench/package.json with Debian's Chromium on each page, signed in where the page
needs it (the session cookie goes in --extra-headers). Prints performance, accessibility,
best practices and SEO per page, lists every failing accessibility and best-practice audit
with the elements involved, and exits 1 when a score is under its target (unless --no-fail).

Targets: performance ≥ 95, accessibility 100, best practices ≥ 95.

    .venv/bin/python bench/lighthouse.py [--no-fail] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pageweight import CHROMIUM, CHROMIUM_ARGS, PAGES, running_site, session_cookie  # noqa: E402

BENCH = Path(__file__).resolve().parent
LIGHTHOUSE = BENCH / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 95}


def install_lighthouse() -> None:
    """Install the pinned Lighthouse into bench/node_modules on first use."""
    if LIGHTHOUSE.exists():
        return
    command = ["npm", "ci"] if (BENCH / "package-lock.json").exists() else ["npm", "install"]
    print(f"Installing Lighthouse: {' '.join(command)} in bench/", file=sys.stderr)
    subprocess.run([*command, "--no-audit", "--no-fund"], cwd=BENCH, check=True)


def lighthouse(url: str, cookies: dict[str, str] | None, out: Path) -> dict:
    """Run Lighthouse once on url and return its report (a dict)."""
    command = [
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={out}",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={' '.join(CHROMIUM_ARGS)}",
    ]
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode or not out.exists():
        sys.exit(f"Lighthouse failed on {url}:\n{done.stdout}{done.stderr}")
    return json.loads(out.read_text())


def scores(report: dict) -> dict[str, int]:
    """Return each category's score out of 100."""
    return {name: round((report["categories"][name]["score"] or 0) * 100) for name in CATEGORIES}


def metrics(report: dict) -> dict[str, float]:
    """Return first and largest contentful paint (ms), total blocking time (ms) and layout shift."""
    audits = report["audits"]
    return {
        "FCP": audits["first-contentful-paint"]["numericValue"],
        "LCP": audits["largest-contentful-paint"]["numericValue"],
        "TBT": audits["total-blocking-time"]["numericValue"],
        "CLS": audits["cumulative-layout-shift"]["numericValue"],
    }


def failing_audits(report: dict) -> list[str]:
    """Describe each failing accessibility or best-practice audit, with the elements involved."""
    lines = []
    for category in ("accessibility", "best-practices"):
        for ref in report["categories"][category]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] == 0 or audit["score"] is None or audit["score"] >= 1:
                continue
            lines.append(f"{category}: {audit['id']}: {audit['title']}")
            for item in (audit.get("details") or {}).get("items", [])[:10]:
                node = item.get("node") or {}
                where = node.get("selector") or item.get("url") or item.get("description") or ""
                snippet = node.get("snippet", "")
                lines.append(f"    {where} {snippet}".rstrip())
    return lines


def opportunities(report: dict) -> list[str]:
    """List the performance audits that cost time, biggest first."""
    found = []
    for ref in report["categories"]["performance"]["auditRefs"]:
        audit = report["audits"][ref["id"]]
        saving = (audit.get("details") or {}).get("overallSavingsMs") or 0
        if audit["score"] is not None and audit["score"] < 0.9 and ref["weight"] > 0:
            found.append((saving, f"performance: {audit['id']}: {audit.get('displayValue', '')}"))
    return [line for _, line in sorted(found, reverse=True)]


def main() -> None:
    """Serve the site, run Lighthouse on every page, print the scores, and check the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fail", action="store_true", help="report, but exit 0 regardless")
    parser.add_argument("--runs", type=int, default=1, help="runs per page; the median counts")
    parser.add_argument("--json", type=Path, help="also write the scores to this file")
    args = parser.parse_args()
    install_lighthouse()
    rows, problems, notes = [], [], []
    with running_site() as site, tempfile.TemporaryDirectory() as tmp:
        cookies = session_cookie(site)
        for path, signed_in in PAGES:
            shown = path.format(slug=site.slug)
            print(f"Lighthouse: {shown}", file=sys.stderr)
            runs = [
                lighthouse(
                    site.page_url(path), cookies if signed_in else None, Path(tmp) / "r.json"
                )
                for _ in range(args.runs)
            ]
            for report in runs:
                # A signed-in page that bounced to /login would score the login form instead.
                if report["finalDisplayedUrl"] != site.page_url(path):
                    problems.append(f"`{shown}`: ended up at {report['finalDisplayedUrl']}")
            per_run = [scores(report) for report in runs]
            median = {
                name: round(statistics.median(s[name] for s in per_run)) for name in CATEGORIES
            }
            times = [metrics(report) for report in runs]
            median |= {name: statistics.median(t[name] for t in times) for name in times[0]}
            rows.append((shown, signed_in, median))
            for name, target in TARGETS.items():
                if median[name] < target:
                    problems.append(f"`{shown}`: {name} {median[name]} is under {target}")
            notes += [f"`{shown}` {line}" for line in failing_audits(runs[-1])]
            notes += [f"`{shown}` {line}" for line in opportunities(runs[-1])]
    print(
        "| page | signed in | performance | accessibility | best practices | SEO "
        "| FCP | LCP | TBT | CLS |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for shown, signed_in, s in rows:
        print(
            f"| `{shown}` | {'yes' if signed_in else 'no'} | {s['performance']} | "
            f"{s['accessibility']} | {s['best-practices']} | {s['seo']} | "
            f"{s['FCP'] / 1000:.1f} s | {s['LCP'] / 1000:.1f} s | {s['TBT']:.0f} ms | "
            f"{s['CLS']:.3f} |"
        )
    print()
    print("\n".join(["Failing audits:", *notes]) if notes else "No failing audits.")
    print()
    print("\n".join(["Under target:", *problems]) if problems else "All targets met.")
    if args.json:
        args.json.write_text(json.dumps([{"page": p, **s} for p, _, s in rows], indent=2))
    if problems and not args.no_fail:
        sys.exit(1)


if __name__ == "__main__":
    main()

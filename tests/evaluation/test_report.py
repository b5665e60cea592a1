"""``customs-risk report``: the tables it writes, and its page in a real headless browser
(Debian's chromium driven by Playwright): every section renders with its plots, no console
error, a screenshot per section."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
BROWSER = os.environ.get("CUSTOMS_RISK_TEST_BROWSER", "/usr/bin/chromium")
SECTIONS = ("overview", "compliance", "enforcement", "tariff", "profiles", "traders", "monitoring")


def _report(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "customs_risk.cli", "report", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def report(small_world: Path, trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    done = _report(
        [
            "--data", str(small_world),
            "--out", str(out),
            "--train-dir", str(trained.out),
            "--profiles", str(PROFILES),
            "--profiles", str(PROFILES / "world"),
            "--resamples", "100",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_report_writes_its_tables(report: Path, small_world: Path) -> None:
    compliance = pd.read_parquet(report / "compliance.parquet")
    for column in ("level", "unit", "period", "offence_rate", "ci_low", "ci_high", "n_control"):
        assert column in compliance.columns
    assert {"headquarters", "district", "office"} <= set(compliance["level"])
    whole = compliance[compliance["period"] == "all"]
    offices = pd.read_parquet(small_world / "declarations.parquet")["office_id"].nunique()
    assert (whole["level"] == "office").sum() == offices
    assert (whole["level"] == "district").sum() == 4  # the generator's districts
    monthly = compliance[(compliance["level"] == "headquarters") & (compliance["period"] != "all")]
    assert len(monthly) >= 20  # two years
    judged = compliance.dropna(subset=["offence_rate"])
    assert (judged["ci_low"] <= judged["offence_rate"]).all()
    assert (judged["offence_rate"] <= judged["ci_high"]).all()

    profiles = pd.read_parquet(report / "profiles.parquet")
    for column in ("profile_id", "hits", "inspected", "hit_rate", "lift", "ci_low", "ci_high"):
        assert column in profiles.columns
    assert {"RP-WORLD-001", "RP-WORLD-002"} <= set(profiles["profile_id"])

    drift = pd.read_parquet(report / "drift.parquet")
    assert len(drift) and (drift["psi"] >= 0).all()
    assert (report / "index.html").stat().st_size > 1_000_000  # plotly.js inlined: offline


def test_the_report_refuses_bad_input(tmp_path: Path, small_world: Path) -> None:
    missing = _report(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert missing.returncode == 2 and "nowhere" in missing.stderr
    level = _report(["--data", str(small_world), "--out", str(tmp_path), "--level", "region"])
    assert level.returncode == 2 and "--level" in level.stderr
    window = _report(["--data", str(small_world), "--out", str(tmp_path), "--from", "2031-01-01"])
    assert window.returncode == 2 and "no declarations" in window.stderr


@pytest.mark.skipif(
    not Path(BROWSER).exists() and "CUSTOMS_RISK_TEST_BROWSER" not in os.environ,
    reason=f"no browser at {BROWSER} (apt-get install chromium; .ci/run installs it)",
)
def test_every_section_renders_in_a_browser(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    shots = Path(os.environ.get("CUSTOMS_RISK_TEST_ARTIFACTS", tmp_path)) / "report"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto((report / "index.html").as_uri())
        names = [s.get_attribute("id") for s in page.query_selector_all("section.page")]
        assert tuple(names) == SECTIONS
        for name in SECTIONS:
            page.click(f"nav a[data-page={name}]")
            section = page.locator(f"section#{name}")
            expect(section).to_be_visible()  # shown on the hashchange the click fires
            assert section.locator("h2").inner_text()
            plots = section.locator(".js-plotly-plot")
            if name != "overview":
                assert plots.count() >= 1, name
                # drawn: each plot has its SVG with at least one trace
                for i in range(plots.count()):
                    plots.nth(i).locator(".main-svg").first.wait_for(state="visible")
                    assert plots.nth(i).locator("g.trace, g.hm, g.heatmaplayer").count() >= 1
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        # the table filter hides rows that do not match
        table = page.locator("section#profiles table.data tbody tr")
        page.click("nav a[data-page=profiles]")
        before = table.count()
        expect(page.locator("section#profiles")).to_be_visible()
        page.fill("section#profiles input.filter", "RP-WORLD-001")
        expect(table.filter(visible=True)).to_have_count(1)
        assert before > 1
        browser.close()
    assert problems == []
    for name in SECTIONS:
        shot = shots / f"{name}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    shutil.copy(shots / "compliance.png", tmp_path / "compliance.png")

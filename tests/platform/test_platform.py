"""The platform in a real headless browser (Debian's chromium driven by Playwright), beside a real
scoring service on the same store: the profile life cycle with four eyes down to /score, the
officer's result form, district scope, CSRF, the login throttle, the dashboards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from customs_risk.serving.harness import LocalServer, free_port
from tests.serving.conftest import json_declarations, served  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
BROWSER = os.environ.get("CUSTOMS_RISK_TEST_BROWSER", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(BROWSER).exists() and "CUSTOMS_RISK_TEST_BROWSER" not in os.environ,
        reason=f"no browser at {BROWSER} (apt-get install chromium; .ci/run installs it)",
    ),
]


def _users_add(store_url: str, name: str, role: str, scope: str) -> None:
    cli = str(Path(sys.executable).with_name("customs-risk"))
    done = subprocess.run(
        [cli, "users", "add", name, "--role", role, "--scope", scope, "--password-stdin"],
        input=PASSWORD + "\n",
        env={**os.environ, "CUSTOMS_RISK_STORE_URL": store_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def setting(served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # noqa: F811
    """A scoring service and the platform on one SQLite store, users of every role."""
    import uvicorn

    from customs_risk.platform.app import create_app
    from customs_risk.platform.settings import PlatformSettings
    from customs_risk.serving.store import Store

    tmp = tmp_path_factory.mktemp("platform")
    store_url = f"sqlite:///{tmp}/store.db"
    world = served["world"]
    records = json_declarations(world, 40, "PLT")
    districts = pd.read_parquet(world / "districts.parquet")
    district_of = dict(zip(districts["office_id"], districts["district_id"], strict=True))
    home = district_of[records[0]["office_id"]]
    other = next(d for d in sorted(set(district_of.values())) if d != home)
    for name, role, scope in (
        ("ada", "admin", "HQ"),
        ("ann", "analyst", "HQ"),
        ("sam", "supervisor", "HQ"),
        ("oli", "officer", home),
        ("dan", "analyst", other),
        ("vic", "supervisor", "HQ"),  # the throttle test's: locked out after it
    ):
        _users_add(store_url, name, role, scope)

    service = LocalServer(
        {
            "BENTOML_HOME": served["env"]["BENTOML_HOME"],
            "CUSTOMS_RISK_STORE_URL": store_url,
            "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
            "CUSTOMS_RISK_SERVE_PROFILES_CHECK_SECONDS": "1",
            "CUSTOMS_RISK_SERVE_LISTS_CHECK_SECONDS": "1",
            "CUSTOMS_RISK_SERVE_LIVE_HISTORY": "false",
            "CUSTOMS_RISK_SERVE_FOLLOW_ALIAS": "false",
            "BENTOML_DO_NOT_TRACK": "true",
            **served["env"],
        },
        log_path=tmp / "service.log",
        cwd=ROOT,
    ).start()
    settings = PlatformSettings(data=world, secret_key="test-secret-key-0123456789")
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, Store(store_url)), host="127.0.0.1", port=port, log_level="warning"
    )
    platform = uvicorn.Server(config)
    thread = threading.Thread(target=platform.run, daemon=True)
    thread.start()
    try:
        service.wait(200)
        deadline = time.monotonic() + 30
        while not platform.started and time.monotonic() < deadline:
            time.sleep(0.1)
        shots = Path(os.environ.get("CUSTOMS_RISK_TEST_ARTIFACTS", tmp)) / "platform"
        shots.mkdir(parents=True, exist_ok=True)
        yield {
            "url": f"http://127.0.0.1:{port}",
            "service": service,
            "records": records,
            "home": home,
            "other": other,
            "shots": shots,
        }
    finally:
        platform.should_exit = True
        thread.join(10)
        service.stop()


@pytest.fixture
def browser(setting: dict) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield instance
        instance.close()


def _page(browser: Any, setting: dict, problems: list[str]) -> Any:
    context = browser.new_context(base_url=setting["url"], viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def _login(page: Any, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login")


def _score(setting: dict, record: dict) -> dict:
    r = httpx.post(f"{setting['service'].url}/score", json={"declarations": [record]}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["decisions"][0]


def test_profile_life_cycle_to_score_and_the_officers_result(browser: Any, setting: dict) -> None:
    from playwright.sync_api import expect

    record = setting["records"][0]
    assert "RP-PLT-001" not in [h["id"] for h in _score(setting, record)["profile_hits"]]
    problems: list[str] = []
    shots = setting["shots"]
    profile = f"""id: RP-PLT-001
title: The importer {record["importer_id"]} (platform test)
owner: Risk Analysis Unit
valid_from: 2024-01-01
priority: 95
action: red
instructions: Examine the goods against the invoice.
criteria:
  - field: importer_id
    op: in
    value: [{record["importer_id"]}]
"""
    analyst = _page(browser, setting, problems)
    _login(analyst, "ann")
    expect(analyst.locator("header .who")).to_contain_text("ann")
    analyst.goto("/profiles/new")
    analyst.fill("#body", profile)
    analyst.click("#save")
    expect(analyst.locator("#status")).to_have_text("draft")
    analyst.click("#test")
    expect(analyst.locator("#status")).to_have_text("tested")
    expect(analyst.locator("#test-figures")).to_contain_text("hits per office day")
    hits = int(analyst.locator("#test-figures tr:has-text('hits') td").first.inner_text())
    assert hits > 0
    analyst.screenshot(path=str(shots / "profile-tested.png"), full_page=True)
    analyst.click("#submit")
    expect(analyst.locator("#status")).to_have_text("submitted")
    # the author cannot approve: no button, and a forged post is refused
    assert analyst.locator("#approve").count() == 0
    token = analyst.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = analyst.request.post(
        "/profiles/RP-PLT-001/approve", form={"csrf_token": token}, max_redirects=0
    )
    assert forged.status == 403, forged.status

    supervisor = _page(browser, setting, problems)
    _login(supervisor, "sam")
    expect(supervisor.locator("body")).to_contain_text("RP-PLT-001")  # waiting for approval
    supervisor.goto("/profiles/RP-PLT-001")
    supervisor.click("#approve")
    expect(supervisor.locator("#status")).to_have_text("active")
    supervisor.screenshot(path=str(shots / "profile-approved.png"), full_page=True)

    # the scoring service applies it within its check interval (1 s here; 30 s by default)
    deadline = time.monotonic() + 60
    while True:
        decision = _score(setting, record)
        if "RP-PLT-001" in [h["id"] for h in decision["profile_hits"]]:
            break
        assert time.monotonic() < deadline, "the approved profile never reached /score"
        time.sleep(0.5)
    assert decision["channel"] == "red" and decision["selected_by"] == "profile"

    officer = _page(browser, setting, problems)
    _login(officer, "oli")
    officer.goto(f"/results/new?declaration_id={record['declaration_id']}")
    officer.select_option("#channel", "orange")
    officer.select_option("#recommended_channel", "red")
    officer.fill("#override_reason", "no examination bay free; documents checked")
    officer.fill("#result_at", "2025-06-03T10:00")
    officer.select_option("#fraud_found", "true")
    officer.select_option("#fraud_type", "undervaluation")
    officer.fill("#recovered_revenue", "1250")
    officer.click("#store-result")
    outcomes = officer.locator("#outcomes")
    expect(outcomes).to_contain_text("undervaluation")
    expect(outcomes).to_contain_text("no examination bay free")
    expect(officer.locator(".decision").last).to_contain_text("RP-PLT-001")  # the newest
    officer.screenshot(path=str(shots / "declaration-record.png"), full_page=True)
    # the trader page: grade and why, findings, and where the suspects ranking puts it
    officer.goto(f"/enquiry?importer_id={record['importer_id']}")
    expect(officer.locator("#suspect")).to_contain_text("importers")
    expect(officer.locator("body")).to_contain_text("Grade")
    assert problems == []


def test_scope_csrf_and_the_login_throttle(browser: Any, setting: dict) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    record = setting["records"][0]
    _score(setting, record)  # decided, so the store knows its office
    outsider = _page(browser, setting, problems)
    _login(outsider, "dan")  # an analyst of another district
    expect(outsider.locator("header .who")).to_contain_text(setting["other"])
    page = outsider.goto(f"/dashboard/compliance?district={setting['home']}")
    assert page is not None and page.status == 403
    expect(outsider.locator("#error")).to_contain_text(setting["other"])
    page = outsider.goto(f"/enquiry?declaration_id={record['declaration_id']}")
    assert page is not None and page.status == 403

    # a form without its CSRF token is refused
    outsider.goto("/bulletins/new")
    outsider.fill("#title", "Forged")
    outsider.fill("#description", "posted without the token")
    outsider.fill("#valid_from", "2025-06-01")
    outsider.evaluate(
        "document.querySelector('form[action=\"/bulletins\"] input[name=csrf_token]').remove()"
    )
    with outsider.expect_response(lambda r: r.url.endswith("/bulletins")) as answer:
        outsider.click("#publish")
    assert answer.value.status == 403
    expect(outsider.locator("#error")).to_contain_text("CSRF")

    # five wrong passwords, then even the right one waits
    victim = _page(browser, setting, problems)
    for _ in range(5):
        _login(victim, "vic", "wrong password")
        expect(victim.locator("#error")).to_contain_text("wrong name or password")
    _login(victim, "vic")
    expect(victim.locator("#error")).to_contain_text("too many failed logins")
    victim.screenshot(path=str(setting["shots"] / "throttled.png"))
    # the refusals above are logged by the browser as failed loads (403, 401, 429): expected
    expected = "Failed to load resource: the server responded with a status of 4"
    assert [p for p in problems if not p.startswith(expected)] == []


def test_every_dashboard_renders_with_its_plots(browser: Any, setting: dict) -> None:
    from playwright.sync_api import expect

    from customs_risk.platform.app import DASHBOARDS

    problems: list[str] = []
    page = _page(browser, setting, problems)
    _login(page, "ada")
    for name, title in DASHBOARDS:
        answer = page.goto(f"/dashboard/{name}?level=district", timeout=120_000)
        assert answer is not None and answer.status == 200, name
        expect(page.locator("h1")).to_have_text(title)
        plots = page.locator(".js-plotly-plot")
        assert plots.count() >= 1, name
        for i in range(plots.count()):
            plots.nth(i).locator(".main-svg").first.wait_for(state="visible")
        page.screenshot(path=str(setting["shots"] / f"dashboard-{name}.png"), full_page=True)
    # a district's view: the filter narrows the data
    answer = page.goto(f"/dashboard/enforcement?district={setting['home']}&level=office")
    assert answer is not None and answer.status == 200
    expect(page.locator("body")).to_contain_text(setting["home"])
    assert problems == []


def test_a_list_entry_added_on_the_platform_changes_score_and_its_retirement_restores(
    browser: Any, setting: dict
) -> None:
    from playwright.sync_api import expect

    record = setting["records"][5]
    before = _score(setting, record)
    problems: list[str] = []
    supervisor = _page(browser, setting, problems)
    _login(supervisor, "sam")
    supervisor.goto("/lists")
    supervisor.fill(
        "#body",
        f"""id: ML-PLT-001
kind: watchlist
title: Importer under investigation (platform test)
importer_id: {record["importer_id"]}
channel: red
instructions: Full examination; call the investigation desk.
valid_from: 2024-01-01
source: investigation file 2026/17
""",
    )
    supervisor.click("#add-entry")
    expect(supervisor.locator("#entries")).to_contain_text("ML-PLT-001")

    def decided(until: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + 60
        while True:
            decision = _score(setting, record)
            if until(decision):
                return decision
            assert time.monotonic() < deadline, decision
            time.sleep(0.5)

    listed = decided(lambda d: "ML-PLT-001" in json.dumps(d.get("list_hits")))
    assert listed["channel"] == "red"
    assert any("ML-PLT-001" in r for r in listed["reasons"]), listed["reasons"]
    supervisor.once("dialog", lambda d: d.accept())
    supervisor.locator("#entries tr:has-text('ML-PLT-001') button").click()
    expect(supervisor.locator("#entries")).not_to_contain_text("ML-PLT-001")
    restored = decided(lambda d: "ML-PLT-001" not in json.dumps(d.get("list_hits")))
    assert restored["channel"] == before["channel"]
    assert problems == []

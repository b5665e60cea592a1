"""The platform's web application (FastAPI, server-rendered Jinja2 pages, plain HTML forms).

Every page needs a live session; every form carries a CSRF token (``fastapi-csrf-protect``,
double submit: a signed cookie and the form field must match); a district user sees its
district only (403 otherwise); every change is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from fastapi_csrf_protect import CsrfProtect
from fastapi_csrf_protect.exceptions import CsrfProtectError
from pydantic import BaseModel

from customs_risk.platform import audit, auth, bulletins, profiles
from customs_risk.platform.auth import AuthError, User
from customs_risk.platform.data import dashboard_sections, dataset, references, suspects
from customs_risk.platform.settings import PlatformSettings
from customs_risk.selection.profiles import ProfileError

SESSION_COOKIE = "cr_session"
TEMPLATES = Path(__file__).parent / "templates"
DASHBOARDS: tuple[tuple[str, str], ...] = (
    ("compliance", "Compliance"),
    ("enforcement", "Law enforcement"),
    ("tariff", "Tariff analysis"),
    ("profiles", "Profiles"),
    ("monitoring", "Monitoring"),
)


class Forbidden(HTTPException):
    """403 with the reason shown on the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=403, detail=reason)


def current_user(request: Request) -> User:
    """The session's user; a redirect to the login page without one."""
    user = auth.session_user(request.app.state.engine, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise HTTPException(status_code=303, headers={"Location": "/login"})
    return user


async def checked(request: Request) -> None:
    """The form's CSRF token matches its signed cookie (403 otherwise)."""
    try:
        await request.app.state.csrf.validate_csrf(request)
    except CsrfProtectError as exc:
        raise HTTPException(status_code=403, detail=f"CSRF check failed: {exc.message}") from None


Current = Annotated[User, Depends(current_user)]
Checked = Depends(checked)


def create_app(settings: PlatformSettings | None = None, store: Any = None) -> FastAPI:
    """The application on ``store`` (default: the scoring service's, ``CUSTOMS_RISK_STORE_URL``)."""
    from customs_risk.serving.store import Store

    config: PlatformSettings = settings if settings is not None else PlatformSettings()
    settings = config
    store = store or Store.from_env()
    store.create()
    engine: sa.Engine = store.engine
    throttle = auth.Throttle(settings.login_attempts, settings.login_window_minutes)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app = FastAPI(title="customs-risk platform", docs_url=None, redoc_url=None)

    class CsrfSettings(BaseModel):
        secret_key: str = config.secret_key
        token_location: str = "body"
        token_key: str = "csrf_token"
        cookie_samesite: str = "strict"
        cookie_secure: bool = config.secure_cookies

    @CsrfProtect.load_config  # type: ignore[arg-type]  # a pydantic model is what it reads
    def _csrf_config() -> CsrfSettings:
        return CsrfSettings()

    csrf = CsrfProtect()
    app.state.engine = engine
    app.state.csrf = csrf

    def page(
        request: Request, template: str, user: User | None, status: int = 200, **context: Any
    ) -> Response:
        token, signed = csrf.generate_csrf_tokens()
        response = templates.TemplateResponse(
            request,
            template,
            {"user": user, "csrf_token": token, "dashboards": DASHBOARDS, **context},
            status_code=status,
        )
        csrf.set_csrf_cookie(signed, response)
        return response

    def require(user: User, *roles: str) -> None:
        if user.role not in roles:
            raise Forbidden(f"a {user.role} cannot do this (needs {' or '.join(roles)})")

    def check_scope(user: User, declaration_id: str, record: dict[str, Any]) -> None:
        """403 unless the declaration's district (the dataset's, else its stored office's) is
        in the user's scope."""
        data = dataset(settings.data)
        district = data.district_of_declaration(declaration_id)
        offices = [r["office_id"] for r in record["decisions"] + record["declarations"]]
        if district is None and offices:
            district = data.district_of_office(offices[0])
        if district is not None and not user.sees(district):
            raise Forbidden(f"declaration {declaration_id} is in district {district}")

    def scope_district(user: User, district: str | None) -> str | None:
        """The district a page shows: the user's own, or for headquarters the one asked."""
        if user.at_headquarters:
            return district or None
        if district and district != user.scope:
            raise Forbidden(f"your scope is district {user.scope}, not {district}")
        return user.scope

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 303:
            return RedirectResponse((exc.headers or {}).get("Location", "/login"), status_code=303)
        user = auth.session_user(engine, request.cookies.get(SESSION_COOKIE))
        return page(request, "error.html", user, exc.status_code, message=exc.detail)

    # --- login --------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return page(request, "login.html", None)

    @app.post("/login", dependencies=[Checked])
    def login(
        request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        address = request.client.host if request.client else "?"
        if throttle.blocked(name, address):
            message = f"too many failed logins: wait {settings.login_window_minutes} minutes"
            return page(request, "login.html", None, 429, error=message)
        try:
            _user, token = auth.login(engine, name, password, settings.session_minutes)
        except AuthError as exc:
            throttle.failed(name, address)
            return page(request, "login.html", None, 401, error=str(exc))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=settings.session_minutes * 60,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
        )
        return response

    @app.post("/logout", dependencies=[Checked])
    def logout(request: Request, user: Current) -> Response:
        auth.logout(engine, request.cookies.get(SESSION_COOKIE), user.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- home and dashboards -----------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, user: Current) -> Response:
        today = dt.date.today()
        data = dataset(settings.data)
        mine = [] if user.at_headquarters else bulletins.for_district(engine, user.scope, today)
        pending = []
        if user.role in ("supervisor", "admin"):
            districts = data.districts if user.at_headquarters else [user.scope]
            pending = bulletins.unacknowledged(engine, districts, today)
        waiting = [
            r for r in profiles.latest(engine) if r["status"] == "submitted"
        ] if user.role in profiles.APPROVERS else []  # fmt: skip
        return page(request, "home.html", user, bulletins=mine, pending=pending, waiting=waiting)

    @app.get("/dashboard/{name}", response_class=HTMLResponse)
    def dashboard(
        request: Request,
        name: str,
        user: Current,
        district: str | None = None,
        level: str = "office",
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Response:
        from customs_risk.evaluation.report_page import figure_html
        from customs_risk.evaluation.units import LEVELS

        if name not in dict(DASHBOARDS):
            raise HTTPException(status_code=404, detail=f"no dashboard {name!r}")
        if level not in LEVELS:
            raise HTTPException(status_code=422, detail=f"level: one of {', '.join(LEVELS)}")
        if not user.at_headquarters and level == "headquarters":
            raise Forbidden("the headquarters level is for headquarters users")
        shown = scope_district(user, district)
        try:
            sections = dashboard_sections(
                settings.data,
                shown,
                level,
                date_from,
                date_to,
                tuple(settings.profiles),
                profiles.export_yaml(engine),
            )
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        section = sections.get(name)
        if section is None:
            raise HTTPException(status_code=404, detail=f"no {name} figures for these data")
        figures = [figure_html(f, f"{name}-plot-{i}") for i, f in enumerate(section.figures)]
        return page(
            request,
            "dashboard.html",
            user,
            name=name,
            section=section,
            figures=figures,
            district=shown,
            districts=dataset(settings.data).districts,
            level=level,
            date_from=date_from or "",
            date_to=date_to or "",
        )

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        from plotly.offline import get_plotlyjs

        return Response(
            get_plotlyjs(),
            media_type="application/javascript",
            headers={"Cache-Control": "max-age=86400"},
        )

    # --- profiles ------------------------------------------------------------------------------

    @app.get("/profiles", response_class=HTMLResponse)
    def profile_list(request: Request, user: Current) -> Response:
        return page(request, "profiles.html", user, rows=profiles.latest(engine))

    @app.get("/profiles/new", response_class=HTMLResponse)
    def profile_new(request: Request, user: Current) -> Response:
        require(user, *profiles.EDITORS)
        return page(request, "profile_edit.html", user, text=_PROFILE_TEMPLATE, error=None)

    @app.post("/profiles", dependencies=[Checked])
    def profile_save(request: Request, user: Current, body: Annotated[str, Form()]) -> Response:
        require(user, *profiles.EDITORS)
        try:
            profile_id, _version = profiles.save_draft(engine, user, body)
        except ProfileError as exc:
            return page(request, "profile_edit.html", user, 422, text=body, error=str(exc))
        return RedirectResponse(f"/profiles/{profile_id}", status_code=303)

    @app.get("/profiles/{profile_id}", response_class=HTMLResponse)
    def profile_view(request: Request, profile_id: str, user: Current) -> Response:
        rows = profiles.versions(engine, profile_id)
        if not rows:
            raise HTTPException(status_code=404, detail=f"no profile {profile_id!r}")
        figures = json.loads(rows[0]["test_figures"]) if rows[0]["test_figures"] else None
        return page(request, "profile.html", user, rows=rows, current=rows[0], figures=figures)

    def _step(action: Callable[[], Any], profile_id: str) -> Response:
        try:
            action()
        except AuthError as exc:
            raise Forbidden(str(exc)) from None
        except profiles.LifeCycleError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        return RedirectResponse(f"/profiles/{profile_id}", status_code=303)

    @app.post("/profiles/{profile_id}/test", dependencies=[Checked])
    def profile_test(profile_id: str, user: Current) -> Response:
        data = dataset(settings.data)
        return _step(
            lambda: profiles.record_test(
                engine, user, profile_id, data.declarations, data.outcomes
            ),
            profile_id,
        )

    @app.post("/profiles/{profile_id}/submit", dependencies=[Checked])
    def profile_submit(profile_id: str, user: Current) -> Response:
        return _step(lambda: profiles.submit(engine, user, profile_id), profile_id)

    @app.post("/profiles/{profile_id}/approve", dependencies=[Checked])
    def profile_approve(profile_id: str, user: Current) -> Response:
        return _step(lambda: profiles.approve(engine, user, profile_id), profile_id)

    @app.post("/profiles/{profile_id}/retire", dependencies=[Checked])
    def profile_retire(profile_id: str, user: Current) -> Response:
        return _step(lambda: profiles.retire(engine, user, profile_id), profile_id)

    @app.get("/profiles.yaml")
    def profiles_export(user: Current) -> Response:
        return Response(profiles.export_yaml(engine), media_type="application/yaml")

    # --- managed lists -------------------------------------------------------------------------

    @app.get("/lists", response_class=HTMLResponse)
    def lists_page(request: Request, user: Current) -> Response:
        return page(
            request, "lists.html", user, entries=store.list_entries(), text=_LIST_TEMPLATE,
            error=None,
        )  # fmt: skip

    @app.post("/lists", dependencies=[Checked])
    def lists_add(request: Request, user: Current, body: Annotated[str, Form()]) -> Response:
        import yaml

        from customs_risk.selection.lists import ListError, parse_list_entry
        from customs_risk.serving.store import ListEntryRefused

        require(user, "supervisor", "admin")
        try:
            entry = parse_list_entry(yaml.safe_load(body), "<form>")
            store.add_list_entry(entry, user.name)
        except (ListError, ListEntryRefused, yaml.YAMLError) as exc:
            entries = store.list_entries()
            return page(
                request, "lists.html", user, 422, entries=entries, text=body, error=str(exc)
            )
        with engine.begin() as conn:
            audit.record(conn, user.name, "list.add", f"list:{entry.id}", None, entry.model_dump())
        return RedirectResponse("/lists", status_code=303)

    @app.post("/lists/{entry_id}/retire", dependencies=[Checked])
    def lists_retire(entry_id: str, user: Current) -> Response:
        from customs_risk.serving.store import ListEntryRefused

        require(user, "supervisor", "admin")
        try:
            store.retire_list_entry(entry_id, user.name)
        except ListEntryRefused as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        with engine.begin() as conn:
            audit.record(conn, user.name, "list.retire", f"list:{entry_id}")
        return RedirectResponse("/lists", status_code=303)

    # --- bulletins -----------------------------------------------------------------------------

    @app.get("/bulletins/new", response_class=HTMLResponse)
    def bulletin_new(request: Request, user: Current) -> Response:
        require(user, "analyst", "supervisor", "admin")
        districts = dataset(settings.data).districts if user.at_headquarters else [user.scope]
        return page(request, "bulletin_new.html", user, districts=districts, error=None)

    @app.post("/bulletins", dependencies=[Checked])
    def bulletin_publish(
        request: Request,
        user: Current,
        title: Annotated[str, Form()],
        description: Annotated[str, Form()],
        scope: Annotated[str, Form()],
        valid_from: Annotated[dt.date, Form()],
        indicators: Annotated[str, Form()] = "",
        profiles_linked: Annotated[str, Form()] = "",
        valid_to: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            until = dt.date.fromisoformat(valid_to) if valid_to else None
            bulletins.publish(
                engine, user, title, description, indicators, scope, valid_from, until,
                profiles_linked,
            )  # fmt: skip
        except AuthError as exc:
            raise Forbidden(str(exc)) from None
        except ValueError as exc:
            districts = dataset(settings.data).districts
            return page(request, "bulletin_new.html", user, 422, districts=districts, error=exc)
        return RedirectResponse("/", status_code=303)

    @app.post("/bulletins/{seq}/acknowledge", dependencies=[Checked])
    def bulletin_ack(seq: int, user: Current) -> Response:
        try:
            bulletins.acknowledge(engine, user, seq)
        except AuthError as exc:
            raise Forbidden(str(exc)) from None
        return RedirectResponse("/", status_code=303)

    # --- enquiry and results -------------------------------------------------------------------

    @app.get("/enquiry", response_class=HTMLResponse)
    def enquiry(
        request: Request,
        user: Current,
        declaration_id: str = "",
        importer_id: str = "",
        hs6: str = "",
        origin: str = "",
    ) -> Response:
        context: dict[str, Any] = {"declaration_id": declaration_id, "importer_id": importer_id}
        context |= {"hs6": hs6, "origin": origin}
        data = dataset(settings.data)
        if declaration_id:
            record = store.item_record(declaration_id)
            check_scope(user, declaration_id, record)
            for decision in record["decisions"]:
                for key in ("profile_hits", "reasons"):
                    value = decision.get(key)
                    decision[key] = json.loads(value) if isinstance(value, str) else value or []
            context["record"] = record
        if importer_id:
            from customs_risk.features.enquiry import trader_enquiry

            try:
                context["trader"] = trader_enquiry(importer_id, data.declarations, data.outcomes)
            except KeyError:
                context["trader_error"] = f"no importer {importer_id!r} in {settings.data}"
            else:
                ranked = suspects(settings.data)
                row = ranked.ranking[ranked.ranking["importer_id"] == importer_id]
                context["suspect"] = row.iloc[0].to_dict() if len(row) else None
                context["suspects_ranked"] = len(ranked.ranking)
                items = ranked.evidence[ranked.evidence["importer_id"] == importer_id]
                context["evidence"] = items.head(20).to_dict("records")
        if hs6:
            table = references(settings.data)
            rows = table[table["hs6"] == hs6]
            if origin:
                rows = rows[rows["origin_country"] == origin.upper()]
            context["references"] = rows.to_dict("records")
        return page(request, "enquiry.html", user, **context)

    @app.get("/results/new", response_class=HTMLResponse)
    def result_form(request: Request, user: Current, declaration_id: str = "") -> Response:
        require(user, "officer", "supervisor", "admin")
        return page(request, "result.html", user, declaration_id=declaration_id, errors=None)

    @app.post("/results", dependencies=[Checked])
    def result_post(
        request: Request,
        user: Current,
        declaration_id: Annotated[str, Form()],
        item_no: Annotated[int, Form()],
        channel: Annotated[str, Form()],
        result_at: Annotated[str, Form()],
        fraud_found: Annotated[str, Form()] = "false",
        fraud_type: Annotated[str, Form()] = "none",
        critical: Annotated[str, Form()] = "false",
        recovered_revenue: Annotated[str, Form()] = "",
        recommended_channel: Annotated[str, Form()] = "",
        override_reason: Annotated[str, Form()] = "",
        findings: Annotated[str, Form()] = "",
    ) -> Response:
        from customs_risk.serving.store import OutcomeRejected

        require(user, "officer", "supervisor", "admin")
        check_scope(user, declaration_id, store.item_record(declaration_id))
        row = {
            "declaration_id": declaration_id,
            "item_no": item_no,
            "channel": channel,
            "result_at": result_at,
            "fraud_found": fraud_found == "true",
            "fraud_type": fraud_type or None,
            "critical": critical == "true",
            "recovered_revenue": float(recovered_revenue) if recovered_revenue else None,
            "recommended_channel": recommended_channel or None,
            "override_reason": override_reason or None,
        }
        try:
            counts = store.add_outcomes([row], client_key=f"platform:{user.name}")
        except OutcomeRejected as exc:
            errors = [f"{p.field}: {p.reason}" for p in exc.problems]
            return page(
                request, "result.html", user, 422, declaration_id=declaration_id, errors=errors
            )
        with engine.begin() as conn:
            audit.record(
                conn, user.name, "result.record", f"item:{declaration_id}/{item_no}", None,
                {**row, "findings": findings, **counts},
            )  # fmt: skip
        return RedirectResponse(f"/enquiry?declaration_id={declaration_id}", status_code=303)

    # --- administration ------------------------------------------------------------------------

    @app.get("/users", response_class=HTMLResponse)
    def user_list(request: Request, user: Current) -> Response:
        require(user, "admin")
        return page(request, "users.html", user, rows=auth.list_users(engine), error=None)

    @app.post("/users", dependencies=[Checked])
    def user_add(
        request: Request,
        user: Current,
        name: Annotated[str, Form()],
        role: Annotated[str, Form()],
        scope: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> Response:
        require(user, "admin")
        try:
            auth.add_user(engine, name, role, password, scope, user.name)
        except AuthError as exc:
            rows = auth.list_users(engine)
            return page(request, "users.html", user, 422, rows=rows, error=str(exc))
        return RedirectResponse("/users", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, user: Current) -> Response:
        require(user, "admin", "supervisor")
        return page(request, "audit.html", user, rows=audit.entries(engine))

    @app.get("/healthz")
    def healthz() -> Response:
        return JSONResponse({"ok": True})

    return app


_LIST_TEMPLATE = """id: ML-2026-100
kind: restricted
title: A restricted heading
hs_prefix: "9303"
channel: orange
instructions: Check the licence against the goods.
valid_from: 2026-01-01
source: the regulation that restricts it
"""

_PROFILE_TEMPLATE = """id: RP-DRAFT-001
title: A new profile
owner: Risk Analysis Unit
valid_from: 2024-01-01
priority: 50
action: orange
instructions: >
  What the officer checks, and what to note when nothing is found.
criteria:
  - field: hs_code
    op: prefix
    value: ["8517"]
"""

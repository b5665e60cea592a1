"""The "Intelligent Risk Identification & Selectivity" endpoint (BentoML service).

- ``POST /score``: declarations in, one channel decision per item out, answered once they are
  committed to the decision store (``decision_writer``: group commit through a child process;
  503 when they could not be stored); thresholds from the model or, when
  ``CUSTOMS_RISK_SERVE_THRESHOLDS`` names a file, from the daily refresh (``thresholds_file``);
- ``POST /outcomes``: inspection results, committed before the answer, idempotent on
  (declaration_id, item_no); a request with a row that breaks the contract, the outcome rules or
  the link to this store's decisions stores nothing (422 listing every refused row with field
  and reason);
- ``GET /model``: the model being served; BentoML's ``/livez``, ``/readyz`` (503 until the model
  is loaded, and for good if it fails to load), ``/metrics`` and ``/docs.json``.

Both need an API key of their scope (``customs-risk keys add``; 401/403/429 before the body is
read; ``/score`` is open without one while the server listens on loopback only); the key's name is
stored with every decision and outcome. Bodies over ``CUSTOMS_RISK_SERVE_MAX_REQUEST_BYTES`` get
413 whatever their transfer encoding; a client error is logged as one line, not a traceback
(``RequestGate``).

Run: ``customs-risk serve`` or ``bentoml serve customs_risk.serving.service:CustomsRiskService``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import bentoml
import orjson
from fastapi import FastAPI
from pydantic import Field
from starlette.responses import JSONResponse, Response

from customs_risk.selection.lists import ManagedLists, load_lists
from customs_risk.serving.decision_writer import DecisionWriter, StoreUnavailable
from customs_risk.serving.gate import CLIENT_KEY, RequestGate, install_client_error_filter
from customs_risk.serving.keys import KeyRing
from customs_risk.serving.monitor import Gauges, ServiceMonitor
from customs_risk.serving.registry_watch import AliasFollower, RegistryWatch
from customs_risk.serving.schemas import (
    MAX_ITEMS,
    MAX_OUTCOMES,
    Declaration,
    ModelInfo,
    Outcome,
    OutcomesResponse,
    ScoreResponse,
)
from customs_risk.serving.settings import ServeSettings, tracing_environment
from customs_risk.serving.store_lists import StoreLists
from customs_risk.serving.store_profiles import StoreProfiles
from customs_risk.serving.thresholds_file import ThresholdsFile

log = logging.getLogger("customs_risk.serving")
SETTINGS = ServeSettings()
SETTINGS.apply_bentoml_home()
# for a `bentoml serve` started by hand; `customs-risk serve` and the harness set it before
# BentoML starts (here is late for part of its instrumentation)
os.environ.update(tracing_environment(os.environ))
http_app = FastAPI(title="customs-risk model info")
logging.getLogger("customs_risk.selection.decide").setLevel(logging.ERROR)
install_client_error_filter()
GAUGES = Gauges(bentoml.metrics)


def _error(ctx: bentoml.Context, status: int, message: str, **extra: Any) -> Any:
    """A JSON error answer (typed Any: an API's annotation names its success model, which
    BentoML reads for the OpenAPI document, while any handler may answer a Response)."""
    ctx.response.status_code = status
    return JSONResponse({"error": message, **extra}, status_code=status)


@bentoml.service(
    name="customs_risk",
    workers=SETTINGS.workers,
    traffic={"timeout": 120},
    metrics={"enabled": True},
    logging={"access": {"enabled": SETTINGS.access_log}},
)
@bentoml.asgi_app(http_app, path="/")
class CustomsRiskService:
    """Risk scores, channels and outcome intake for clearance systems."""

    def __init__(self) -> None:
        self.settings = SETTINGS
        self.served: Served | None = None
        self.load_error: str | None = None
        self.writer: DecisionWriter | None = None
        self.store: Any = None
        self.follower: AliasFollower | None = None
        try:
            self._load()
        except Exception as exc:  # stays not ready; /score answers 503
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("model %s failed to load: not ready", SETTINGS.model_tag)

    @property
    def engine(self) -> Any:
        """The engine serving now (None until loaded)."""
        return None if self.served is None else self.served.engine

    def _load(self) -> None:
        from customs_risk.serving.model_source import load_served
        from customs_risk.serving.store import Store

        model, info = load_served(self.settings.model_tag)
        self.store = Store.from_env()
        self.store.create()
        served = self._serve(model, info)
        self.writer = DecisionWriter(self.store.url)
        self.follower = AliasFollower(
            info.get("alias") if self.settings.follow_alias else None,
            info.get("registry_version"),
            self.settings.alias_check_seconds,
            self._switch,
        )
        self.follower.start()
        # the model's objects live as long as the process: keep them out of GC passes
        gc.collect()
        gc.freeze()
        self.served = served
        log.info(
            "serving %s (%s), %d profiles",
            model.version,
            info["bentoml_tag"],
            len(served.engine.profiles),
        )

    def _serve(self, model: Any, info: dict[str, Any]) -> Served:
        """Everything that decides with one model: engine (checked and warmed), thresholds,
        live history (replayed from the store), the registry watch of its alias."""
        from customs_risk.selection.profiles import ProfileSet, load_profiles
        from customs_risk.serving.engine import Engine
        from customs_risk.serving.store import Store

        folder = self.settings.profiles
        profiles = ProfileSet()
        if folder is not None and Path(folder).exists():
            profiles = load_profiles(folder)
        else:
            log.warning("no risk profile folder %s: deciding without profiles", folder)
        lists = _folder_lists(self.settings.lists)
        engine = Engine(
            model, profiles, seed=self.settings.seed, nthread=self.settings.xgb_nthread, lists=lists
        )
        example = _example(model)
        engine.check(example)
        store_profiles = StoreProfiles(
            self.store.engine, profiles, example, self.settings.profiles_check_seconds
        )
        store_profiles.poll(engine)  # the platform's active profiles from the start
        store_lists = StoreLists(
            self.store, lists, self.settings.lists_check_seconds, self.settings.lists
        )
        store_lists.poll(engine)  # the store's managed lists from the start
        engine.warm(example)
        thresholds = ThresholdsFile(
            self.settings.thresholds, engine.thresholds, self.settings.thresholds_check_seconds
        )
        thresholds.poll(engine)
        live = None
        if self.settings.live_history:
            from customs_risk.serving.live_history import LiveHistory

            live = LiveHistory(
                Store(self.store.url),
                model,
                self.settings.live_poll_seconds,
                self.settings.live_compact_declarations,
            )
            applied = live.catch_up()  # the cold start: the store's history so far
            log.info("live history: %d events replayed from the store", applied)
            live.start()
        registry = RegistryWatch(
            info.get("alias"), info.get("registry_version"), self.settings.alias_check_seconds
        )
        registry.start()
        monitor = ServiceMonitor(GAUGES, model.meta.get("score_reference"))
        return Served(
            engine, thresholds, live, registry, info, monitor, store_profiles, store_lists
        )

    def _switch(self, version: str) -> None:
        """Serve registry ``version`` (the followed alias moved there): built beside the running
        one, then swapped in; requests in flight finish on the old one."""
        from customs_risk.models.tracking import MlflowSettings, configure, load_registered

        settings = configure(MlflowSettings())
        model = load_registered(settings, version=version)
        assert self.served is not None
        alias = self.served.info.get("alias")
        info = {
            "registry_version": str(version),
            "alias": alias,
            "bentoml_tag": f"registry:{settings.model_name}/{version}",
            "model_version": f"{settings.model_name}/{version}",
            "run_id": model.meta.get("run_id"),
        }
        served = self._serve(model, info)
        old, self.served = self.served, served
        if old.live is not None:
            old.live.stop()
        log.info("alias %s moved: now serving version %s (%s)", alias, version, model.version)

    def __is_ready__(self) -> bool:
        return self.served is not None

    @bentoml.on_shutdown
    def _drain(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self.served is not None and self.served.live is not None:
            self.served.live.stop()
        if self.writer is not None:
            self.writer.close()
            log.info("decision writer drained: %d rows written", self.writer.written)

    @bentoml.api(route="/score")
    async def score(
        self,
        declarations: Annotated[list[Declaration], Field(min_length=1, max_length=MAX_ITEMS)],
        ctx: bentoml.Context,
    ) -> ScoreResponse:
        """Channel decisions for 1 to 10,000 declaration items, in request order."""
        served = self.served
        if served is None:
            return _error(ctx, 503, "model not loaded", reason=self.load_error)
        if len(declarations) > self.settings.max_items:
            return _error(
                ctx, 413, f"declarations: at most {self.settings.max_items} items per request"
            )
        client = _client_key(ctx)
        if len(declarations) <= self.settings.inline_max:
            # small requests run on the event loop: a thread hop costs more than the work
            answer, stored = self._score(served, declarations, client)
        else:
            answer, stored = await anyio.to_thread.run_sync(
                self._score, served, declarations, client
            )
        try:
            await asyncio.wrap_future(stored)  # durable before acknowledged
        except StoreUnavailable as exc:
            message = "decisions could not be stored: not acknowledged, send the request again"
            return _error(ctx, 503, message, reason=str(exc))
        return answer

    def _score(
        self, served: Served, declarations: list[Declaration], client: str | None
    ) -> tuple[Any, Any]:
        """The ScoreResponse (serialised once with orjson: a Response, see ``_error``) and the
        future of its decisions' commit, all by one served model (a switch waits for none)."""
        assert self.writer is not None  # set with the first model
        served.thresholds.poll(served.engine)
        served.profiles.poll(served.engine)
        served.lists.poll(served.engine)
        request_id = uuid.uuid4().hex
        decisions = served.engine.decide([d.record() for d in declarations])
        stored = self.writer.submit(decisions, declarations, request_id, client)
        served.monitor.observe_decisions(decisions)
        answer = Response(
            _dumps({"request_id": request_id, "decisions": decisions}),
            media_type="application/json",
        )
        return answer, stored

    @bentoml.api(route="/outcomes")
    def outcomes(
        self,
        outcomes: Annotated[list[Outcome], Field(min_length=1, max_length=MAX_OUTCOMES)],
        ctx: bentoml.Context,
    ) -> OutcomesResponse:
        """Store inspection results (committed before the answer); repeats of a key count as
        duplicates. Each row is an item this system decided, or names its ``source`` (kept
        apart). A request with any row that breaks the contract or its rules stores nothing:
        422 listing every refused row."""
        from customs_risk.serving.store import OutcomeRejected, Store

        if not outcomes:
            return _error(ctx, 422, "outcomes: at least one row is required")
        if len(outcomes) > self.settings.max_outcomes:
            return _error(ctx, 413, f"outcomes: at most {self.settings.max_outcomes} rows")
        if self.store is None:
            self.store = Store.from_env()
        try:
            records = [o.model_dump() for o in outcomes]
            counts = self.store.add_outcomes(records, client_key=_client_key(ctx))
            if self.served is not None:
                self.served.monitor.observe_results(records)
        except OutcomeRejected as exc:
            refused = [{"row": p.row, "field": p.field, "reason": p.reason} for p in exc.problems]
            where = f"outcomes[{exc.row}].{exc.field}" if exc.row is not None else exc.field
            rows = len({p.row for p in exc.problems})
            count = f"{rows} row{'s' if rows != 1 else ''} refused"
            message = f"{where}: {exc.reason} ({count}, nothing stored)"
            return _error(ctx, 422, message, refused=refused)
        return OutcomesResponse(**counts)

    @http_app.get("/model", response_model=ModelInfo)
    def model(self) -> Any:
        """The served model: versions, training window, metrics, policy shares."""
        served = self.served
        if served is None:
            return JSONResponse({"error": "model not loaded", "reason": self.load_error}, 503)
        return {
            **_model_info(served.engine, served.info),
            "thresholds": served.thresholds.info(served.engine),
            "registry": served.registry.info(),
            "live_history": None if served.live is None else served.live.info(),
            "follow": None if self.follower is None else self.follower.info(),
            "store_profiles": served.profiles.info(),
            "lists": served.lists.info(),
        }


@dataclass(frozen=True)
class Served:
    """One served model and what decides with it, swapped as one reference."""

    engine: Any  # serving.engine.Engine
    thresholds: ThresholdsFile
    live: Any  # serving.live_history.LiveHistory, None when the history is frozen
    registry: RegistryWatch
    info: dict[str, Any]
    monitor: ServiceMonitor
    profiles: StoreProfiles
    lists: StoreLists


def _folder_lists(folder: Path | None) -> ManagedLists:
    """The managed lists of the folder (ListError: not ready); none without one."""
    if folder is not None and Path(folder).exists():
        return load_lists(folder)
    log.warning("no managed-list folder %s: the store's entries only", folder)
    return ManagedLists()


def _client_key(ctx: bentoml.Context) -> str | None:
    """The name of the request's API key (``RequestGate``); None: /score open without one."""
    name = ctx.request.scope.get(CLIENT_KEY)
    return None if name is None else str(name)


def _model_info(engine: Any, info: dict[str, Any]) -> dict[str, Any]:
    meta = engine.model.meta
    policy = engine.policy
    return {
        "name": meta.get("name") or "customs-risk",
        "version": engine.version,
        "registry_version": info.get("registry_version"),
        "alias": info.get("alias"),
        "bentoml_tag": info.get("bentoml_tag", ""),
        "run_id": meta.get("run_id"),
        "trained_at": None if meta.get("trained_at") is None else str(meta["trained_at"]),
        "windows": meta.get("windows") or {},
        "metrics": meta.get("metrics") or {},
        "policy_version": policy.version,
        "policy_shares": policy.shares.model_dump(),
        "profiles": [p.id for p in engine.profiles],
    }


def _example(model: Any) -> dict[str, Any]:
    """A plausible declaration lodged after the model's state (warm-up and checks)."""
    as_of = model.state.as_of
    when = dt.datetime(2025, 1, 1) if as_of is None else _from_ns(as_of) + dt.timedelta(hours=1)
    return Declaration(
        declaration_id="WARMUP",
        item_no=1,
        declared_at=when,
        office_id="OFC000",
        importer_id="IMP-WARMUP",
        declarant_id="DCL-WARMUP",
        hs_code="851712",
        origin_country="CN",
        departure_country="CN",
        transport_mode="air",
        quantity=1.0,
        net_mass_kg=1.0,
        customs_value=100.0,
        tariff_rate=5.0,
        duty_declared=5.0,
    ).record()


def _from_ns(ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(ns) // 1000)


def _dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


# the service decorator returns BentoML's Service wrapper, which its type hints do not describe
def _key_ring() -> KeyRing:
    from customs_risk.serving.store import StoreSettings

    url = StoreSettings().resolved_url()
    return KeyRing(url, SETTINGS.api_token, SETTINGS.key_refresh_seconds)


CustomsRiskService.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGate,
    max_bytes=SETTINGS.max_request_bytes,
    keys=_key_ring(),
    score_open=SETTINGS.score_is_open(),
    default_rate=SETTINGS.key_rate_per_second,
)

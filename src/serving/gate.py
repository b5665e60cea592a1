"""The ASGI gate in front of the scoring service (:class:`RequestGate`) and the one-line logging
of client errors (:class:`ClientErrorFilter`).

The gate answers before BentoML reads a request: the API key of the protected routes (its scope,
its rate), the media type and the size of the body (413 whatever the transfer encoding). Client
errors (4xx) are logged as one line each, whoever answered them; BentoML's own record of a
request it could not parse (``Exception on /score [POST]`` with a ~25-line traceback, logged by
``bentoml._internal.server.http_app.log_exception``) is dropped, while errors raised in this
package's code keep their traceback.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pydantic
from bentoml.exceptions import BentoMLException
from limits import RateLimitItemPerSecond, storage, strategies

from customs_risk.serving.keys import ApiKey, KeyRing

log = logging.getLogger("customs_risk.serving")
JSON_ROUTES = frozenset({"/score", "/outcomes"})
ROUTE_SCOPES = {"/score": "score", "/outcomes": "outcomes"}  # the API key scope each needs
CLIENT_KEY = "customs_risk.client_key"  # the ASGI scope entry naming the request's key
BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"  # where log_exception writes
_PACKAGE = str(Path(__file__).resolve().parents[1]) + os.sep  # this package's source folder


class RequestGate:
    """ASGI middleware in front of the API: it answers before BentoML reads anything.

    - ``ROUTE_SCOPES`` need an API key of their scope (or admin) as a bearer token: 401
      without one or with an unknown or revoked one, 403 with a key of another scope, 429 past
      the key's rate (Retry-After), whatever the body; ``score_open`` lets ``/score`` in
      without a key (a key given is still checked). The key's name goes in the ASGI scope
      (``CLIENT_KEY``) for the handlers to record;
    - a JSON route's body of another media type: 415;
    - a POST body over ``max_bytes``: 413, declared (``Content-Length``) or counted as it
      arrives (chunked, slow): the body is read here, then replayed to the app in one message;
    - every client error (4xx, whoever answered it) is logged as one line: method, route,
      status and the first error (BentoML's traceback of a request it could not parse is
      dropped by :class:`ClientErrorFilter`).
    """

    def __init__(
        self,
        app: Any,
        max_bytes: int,
        keys: KeyRing,
        score_open: bool = False,
        default_rate: float = 100.0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.keys = keys
        self.score_open = score_open
        self.default_rate = default_rate
        # a moving window per key, in this worker's memory
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._rates: dict[float, RateLimitItemPerSecond] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or "/"
        method = scope.get("method") or ""
        send = _logging_send(send, method, path)
        headers = dict(scope.get("headers") or [])
        needed = ROUTE_SCOPES.get(path.rstrip("/"))
        if needed is not None:
            refused = self._admit(needed, headers.get(b"authorization"), scope)
            if refused is not None:
                await _send_json(send, *refused)
                return
        if method != "POST":
            await self.app(scope, receive, send)
            return
        media = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if path in JSON_ROUTES and media != b"application/json":
            await _send_json(send, 415, {"error": "Content-Type must be application/json"})
            return
        too_large = {"error": f"request body over {self.max_bytes} bytes"}
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_json(send, 413, too_large)
            return
        body = await self._read_body(receive)
        if body is _DISCONNECTED:
            return  # the client went away: nobody to answer
        if body is _TOO_LARGE:
            await _send_json(send, 413, too_large)
            return
        await self.app(scope, _replay(body, receive), send)

    def _admit(
        self, needed: str, authorization: bytes | None, scope: dict
    ) -> tuple[int, dict, list] | None:
        """(status, body, headers) refusing the request, or None (its key named in scope)."""
        if authorization is None and needed == "score" and self.score_open:
            scope[CLIENT_KEY] = None
            return None
        scheme, _, value = (authorization or b"").partition(b" ")
        key: ApiKey | None = None
        if scheme.lower() == b"bearer" and value.strip():
            key = self.keys.lookup(value.strip().decode(errors="replace"))
        if key is None:
            message = (
                f"an API key with the {needed} scope is required (Authorization: Bearer <key>; "
                f"made with `customs-risk keys add NAME --scope {needed}`)"
            )
            return 401, {"error": message}, [(b"www-authenticate", b"Bearer")]
        if not key.allows(needed):
            message = f"key {key.name!r} has the {key.scope} scope; {needed} is needed"
            return 403, {"error": message}, []
        rate = key.rate_per_second or self.default_rate
        item = self._rates.get(rate)
        if item is None:
            item = self._rates[rate] = RateLimitItemPerSecond(max(1, round(rate)))
        if not self.limiter.hit(item, key.name):
            message = f"key {key.name!r}: over {rate:g} requests per second"
            return 429, {"error": message}, [(b"retry-after", b"1")]
        scope[CLIENT_KEY] = key.name
        return None

    async def _read_body(self, receive: Any) -> Any:
        """The whole body, or ``_TOO_LARGE`` as soon as it passes the limit, or
        ``_DISCONNECTED``."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _DISCONNECTED
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                return _TOO_LARGE
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_TOO_LARGE = object()
_DISCONNECTED = object()


def _replay(body: bytes, receive: Any) -> Any:
    """A receive callable that hands the app the body read, then waits on the client's."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if sent:
            return await receive()  # http.disconnect, when it comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _send_json(send: Any, status: int, payload: dict, extra: list | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


_LOGGED_BODY = 256 * 1024  # a client error's answer read for its first error, at most


def _logging_send(send: Any, method: str, path: str) -> Any:
    """``send`` that logs one line for a 4xx answer (its first error), and passes on all."""
    status = 0
    body = bytearray()

    async def logged(message: dict) -> None:
        nonlocal status
        kind = message["type"]
        if kind == "http.response.start":
            status = int(message["status"])
        elif 400 <= status < 500 and kind == "http.response.body":
            if len(body) < _LOGGED_BODY:
                body.extend(message.get("body", b"")[: _LOGGED_BODY - len(body)])
            if not message.get("more_body", False):
                log.warning("client error %s %s -> %d: %s", method, path, status, first_error(body))
        await send(message)

    return logged


def first_error(body: bytes | bytearray) -> str:
    """The first error of a JSON error answer: BentoML's validation ``detail`` (loc: msg), the
    first refused row of ours, else its ``error``; a short excerpt of anything else."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return bytes(body[:200]).decode(errors="replace") or "(no body)"
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # BentoML answers some errors as a one-element list
    if not isinstance(payload, dict):
        return str(payload)[:200]
    detail = payload.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = ".".join(str(part) for part in detail[0].get("loc") or [])
        return f"{loc}: {detail[0].get('msg')}" if loc else str(detail[0].get("msg"))
    return str(payload.get("error"))[:500]


class ClientErrorFilter(logging.Filter):
    """Drops BentoML's ``Exception on <route>`` record, with its traceback, for a request it
    could not parse (a pydantic ValidationError or a 4xx BentoMLException raised outside this
    package): :class:`RequestGate` logs those as one line. Errors raised in this package's code
    keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        exc = record.exc_info[1]
        if isinstance(exc, BentoMLException):
            client = exc.error_code.value < 500
        else:
            client = isinstance(exc, pydantic.ValidationError)
        return not (client and not _raised_here(exc.__traceback__))


def _raised_here(tb: TracebackType | None) -> bool:
    """Whether a frame of the traceback runs code of this package."""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
            return True
        tb = tb.tb_next
    return False


def install_client_error_filter() -> None:
    """Put :class:`ClientErrorFilter` on the logger of BentoML's ``log_exception`` (once)."""
    logger = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())

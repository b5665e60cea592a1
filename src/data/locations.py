"""Where relative locations resolve: the project root.

The project root is ``CUSTOMS_RISK_PROJECT_ROOT`` when set, else the nearest folder holding
``pyproject.toml`` or ``dvc.yaml``, from the current directory upward (the checkout, where
``make`` and the DVC stages run). A relative SQLite URL (``sqlite:///mlflow.db``, the default
MLflow store; ``sqlite:///data/store/outcomes.db``, the default outcome store) names a file under
that root whatever folder a command runs from. Without a project root a relative URL is taken
from the current directory only when its file exists there; otherwise it is refused
(:class:`UnresolvedLocation`, naming the file it would create) rather than creating an empty
database where nobody looks. Relative folders (the MLflow artifact root) resolve the same way,
against the current directory when there is no project root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT_ENV = "CUSTOMS_RISK_PROJECT_ROOT"
MARKERS: tuple[str, ...] = ("pyproject.toml", "dvc.yaml")
_SQLITE_URL = re.compile(r"^(?P<scheme>sqlite(?:\+\w+)?):///(?P<path>[^?]*)(?P<query>\?.*)?$")


class UnresolvedLocation(FileNotFoundError):
    """A relative SQLite URL with no project root and no such file in the current directory."""


def project_root(start: Path | None = None) -> Path | None:
    """``CUSTOMS_RISK_PROJECT_ROOT``, else the nearest folder from ``start`` (default: the
    current directory) upward that holds one of :data:`MARKERS`; None if there is none."""
    given = os.environ.get(ROOT_ENV)
    if given:
        return Path(given).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_file() for marker in MARKERS):
            return folder
    return None


def resolve_folder(path: str | Path, start: Path | None = None) -> Path:
    """An absolute folder: ``path`` itself, or under the project root (else ``start`` / the
    current directory) when it is relative."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    return (project_root(start) or (start or Path.cwd()).resolve()) / path


def resolve_sqlite_url(url: str, setting: str = "database URL", start: Path | None = None) -> str:
    """``url`` with a relative SQLite file made absolute under the project root; other URLs
    (absolute files, ``:memory:``, ``file:`` URIs, servers) unchanged.

    Raises :class:`UnresolvedLocation` when no project root is found and the file does not exist
    in ``start`` (default: the current directory); ``setting`` names what the URL configures.
    """
    match = _SQLITE_URL.match(url)
    if match is None:
        return url
    path = match["path"]
    if not path or path == ":memory:" or path.startswith("file:") or Path(path).is_absolute():
        return url
    root = project_root(start)
    here = (start or Path.cwd()).resolve()
    target = (root or here) / path
    if root is None and not target.exists():
        raise UnresolvedLocation(
            f"{setting} {url!r} is a relative SQLite URL and no project root (a folder holding "
            f"{' or '.join(MARKERS)}, or {ROOT_ENV}) was found from {here}: it would create "
            f"{target}. Run from the project, set {ROOT_ENV}, or give an absolute URL "
            f"(sqlite:///{target})"
        )
    return f"{match['scheme']}:///{target}{match['query'] or ''}"

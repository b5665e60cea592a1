"""Analysts' YAML files (risk profiles, managed lists): files and folders of them read with YAML
1.2 booleans, one item or a list per file, ids unique across the files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

SUFFIXES = (".yaml", ".yml")


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so country code NO stays text."""


Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)
# (file, field, reason, item id) -> the kind's error (ProfileError, ListError)
ErrorOf = Callable[[str | None, str, str, str | None], Exception]


def yaml_files(paths: tuple[str | Path, ...], error: ErrorOf) -> list[Path]:
    """The YAML files of files and folders (a folder's own files, in name order)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise error(str(path), "<path>", "no such file or folder", None)
    return files


def read_documents(path: Path, error: ErrorOf, item: str) -> list[Any]:
    """The items of one file (one mapping, or a list of them); ``item`` names one in errors."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise error(str(path), "<yaml>", f"not valid YAML: {exc}", None) from exc
    if doc is None:
        raise error(str(path), f"<{item}>", "empty file", None)
    return doc if isinstance(doc, list) else [doc]


def load_items(
    paths: tuple[str | Path, ...],
    parse: Callable[[Any, str], T],
    error: ErrorOf,
    item: str,
) -> list[T]:
    """Every item of the files, parsed, refusing an id met twice (both files named)."""
    items: list[T] = []
    seen: dict[str, str] = {}
    for file in yaml_files(paths, error):
        for data in read_documents(file, error, item):
            parsed = parse(data, str(file))
            if parsed.id in seen:
                reason = f"duplicate id {parsed.id!r}, also in {seen[parsed.id]}"
                raise error(str(file), "id", reason, parsed.id)
            seen[parsed.id] = str(file)
            items.append(parsed)
    return items

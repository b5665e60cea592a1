"""``customs-risk lists import|show|retire|export``: the managed lists in the store (the
scoring service applies them within ``CUSTOMS_RISK_SERVE_LISTS_CHECK_SECONDS``)."""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customs_risk.selection.lists import ListEntry
    from customs_risk.serving.store import Store, StoredListEntry


@dataclass(frozen=True)
class ListsOptions:
    """Inputs of ``customs-risk lists``: ``action`` import, show, retire or export."""

    action: str
    path: Path | None = None  # import: a YAML file or folder; export: the folder to write
    entry_id: str | None = None  # retire
    show_all: bool = False  # show: retired entries too
    actor: str | None = None  # who imports or retires (default: the login name)
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default


def run(options: ListsOptions) -> int:
    """Do the action; 2 with a message on a malformed entry, a taken or unknown id."""
    from customs_risk.selection.lists import ListError
    from customs_risk.serving.store import ListEntryRefused, Store

    actor = options.actor or _login()
    try:
        with Store(options.store_url) as store:
            if options.action == "import":
                assert options.path is not None
                _import(store, options.path, actor)
            elif options.action == "retire":
                assert options.entry_id is not None
                store.retire_list_entry(options.entry_id, actor)
                print(f"list entry {options.entry_id} retired by {actor} (kept in the store)")
            elif options.action == "export":
                assert options.path is not None
                _export(store, options.path)
            else:
                _show(store.list_records(), options.show_all)
    except (ListError, ListEntryRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment
        return "unknown"


def _import(store: Store, path: Path, actor: str) -> None:
    """All entries of the files, or none: an id the store holds with other content (or
    retired) is refused; one it holds in force unchanged is skipped."""
    from customs_risk.selection.lists import load_lists
    from customs_risk.serving.store import ListEntryRefused

    entries = list(load_lists(path))
    held = {s.entry.id: s for s in store.list_records()}
    new: list[ListEntry] = []
    unchanged = 0
    for entry in entries:
        stored = held.get(entry.id)
        if stored is None:
            new.append(entry)
        elif stored.entry == entry and not stored.retired:
            unchanged += 1
        else:
            state = "retired" if stored.retired else "with other content"
            raise ListEntryRefused(
                f"list entry {entry.id} is in the store {state}: an id names one entry for "
                "good, give the new version a new id (nothing imported)"
            )
    store.add_list_entries(new, actor)
    print(f"{len(new)} list entries imported by {actor}, {unchanged} unchanged")
    for entry in new:
        print(f"  {entry.id} {entry.kind} {entry.describe()}: {entry.title}")


def _export(store: Store, folder: Path) -> None:
    from customs_risk.selection.lists import write_lists

    stored = [s for s in store.list_records() if not s.retired]
    for s in stored:
        header = (
            f"{s.entry.id}: added to the store by {s.added_by} on {s.added_at:%Y-%m-%d} "
            f"(exported {dt.date.today()})"
        )
        write_lists([s.entry], folder, header)
    print(f"{len(stored)} list entries in force written to {folder}")


def _show(stored: list[StoredListEntry], show_all: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    today = dt.datetime.now(dt.UTC).date()
    table = Table()
    table.add_column("id", no_wrap=True)
    for name in ("list", "target", "channel", "valid", "title", "source", "added", "status"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps, never cuts
    for s in stored:
        e = s.entry
        if s.retired and not show_all:
            continue
        if s.retired:
            status = f"retired {s.retired_at:%Y-%m-%d} by {s.retired_by}"
        elif e.is_valid_on(today):
            status = "in force"
        else:
            status = "not yet valid" if today < e.valid_from else "expired"
        until = "" if e.valid_to is None else str(e.valid_to)
        table.add_row(
            e.id,
            e.kind,
            e.describe(),
            e.channel,
            f"{e.valid_from} to {until or 'open'}",
            e.title,
            e.source,
            f"{s.added_at:%Y-%m-%d} by {s.added_by}",
            status,
        )
    Console().print(table)

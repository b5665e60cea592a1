"""``customs-risk platform``: the risk management platform on the scoring service's store
(uvicorn, one process: the login throttle and the dashboards' cache live in it); ``customs-risk
users add``: a platform user (the first admin), the password asked or read from stdin."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformOptions:
    """Inputs of ``customs-risk platform``."""

    host: str = "127.0.0.1"
    port: int = 8000


def serve(options: PlatformOptions) -> int:
    """Serve until interrupted."""
    import uvicorn

    from customs_risk.platform.app import create_app

    uvicorn.run(create_app(), host=options.host, port=options.port, log_level="info")
    return 0


@dataclass(frozen=True)
class UserOptions:
    """Inputs of ``customs-risk users add``."""

    name: str
    role: str
    scope: str = "HQ"
    password_stdin: bool = False


def add_user(options: UserOptions) -> int:
    """Create the user in the store; 2 on a refused name, role or password."""
    import getpass

    from rich.console import Console

    from customs_risk.platform.auth import AuthError
    from customs_risk.platform.auth import add_user as create
    from customs_risk.serving.store import Store

    console = Console(stderr=True)
    if options.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {options.name}: ")
        if getpass.getpass("again: ") != password:
            console.print("[red]users add failed:[/red] the passwords differ")
            return 2
    store = Store.from_env()
    store.create()
    try:
        user = create(store.engine, options.name, options.role, password, options.scope, "cli")
    except AuthError as exc:
        console.print(f"[red]users add failed:[/red] {exc}")
        return 2
    console.print(f"user {user.name} ({user.role}, scope {user.scope}) added to {store.url}")
    return 0


@dataclass(frozen=True)
class ProfilesImportOptions:
    """Inputs of ``customs-risk profiles import``."""

    path: str
    actor: str


def import_profiles(options: ProfilesImportOptions) -> int:
    """Each profile of the file or folder becomes a new draft version in the store (the life
    cycle then runs on the platform); 2 on a profile that does not parse."""
    import yaml
    from rich.console import Console

    from customs_risk.platform.auth import HEADQUARTERS, User
    from customs_risk.platform.profiles import save_draft
    from customs_risk.selection.profiles import ProfileError, load_profiles
    from customs_risk.serving.store import Store

    console = Console(stderr=True)
    try:
        loaded = load_profiles(options.path)
    except ProfileError as exc:
        console.print(f"[red]profiles import failed:[/red] {exc}")
        return 2
    store = Store.from_env()
    store.create()
    author = User(options.actor, "analyst", HEADQUARTERS)
    for profile in loaded:
        body = yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True), sort_keys=False)
        profile_id, version = save_draft(store.engine, author, body)
        console.print(f"{profile_id} v{version}: draft")
    console.print(f"{len(loaded)} profiles imported as drafts into {store.url}")
    return 0

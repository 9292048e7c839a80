"""``llf-host keys``: manage the encrypted key store.

Secrets are read from a hidden prompt (on a terminal) or from stdin, never from
the command line (argv is visible to every user through ``ps``). No command
prints a secret. The passphrase comes from ``LLF_HOST_PASSPHRASE``, the OS
keyring (see ``keys unlock``) or a prompt when stdin is a terminal.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import TypeVar

import click

from .._errors import KeyStoreError
from .._errors import KeyStoreLocked
from .._errors import LLMError
from .._keys import LOCKED_HINT
from .._keys import MAX_VALUE_BYTES
from .._keys import KeyInfo
from .._keys import KeyStore
from .._keys import Passphrase
from .._keys import check_name
from .._keys import check_value
from .._keys import find_passphrase
from .._keys import from_environment
from .._keys import key_settings
from .._keys import keyring_available
from .._keys import keyring_delete
from .._keys import keyring_set
from .._keys import read_llm_keys
from .._keys import stdin_is_tty
from .._keys import store_for
from ._state import CliState
from ._state import fail

if TYPE_CHECKING:
    from .._host import Host

__all__ = ["keys"]

T = TypeVar("T")


def _guard(func: Callable[[], T]) -> T:
    try:
        return func()
    except LLMError as exc:
        fail(exc)
        raise AssertionError("unreachable") from None


def _read_stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    value = line.rstrip("\r\n")
    if not value:
        raise KeyStoreError(
            f"no {what} on stdin", hint=f"pipe the {what} on the first line of stdin"
        )
    return value


def _new_passphrase(*, environ_first: bool) -> Passphrase:
    """A passphrase for a new store or a rotation (env, prompt twice, or stdin)."""
    env_value = os.environ.get("LLF_HOST_PASSPHRASE")
    if environ_first and env_value:
        return Passphrase(env_value, "env")
    if stdin_is_tty():
        value = click.prompt(
            "New key store passphrase", hide_input=True, confirmation_prompt=True, err=True
        )
        return Passphrase(value, "prompt")
    if not environ_first:
        return Passphrase(_read_stdin_line("new passphrase"), "stdin")
    raise KeyStoreLocked(
        "there is no key store yet, and no passphrase to create one with",
        hint="set LLF_HOST_PASSPHRASE (it becomes the store's passphrase), or run this "
        "command in a terminal to be asked for one",
    )


def _unlock(store: KeyStore, host: Host, *, create: bool) -> Passphrase | None:
    """Unlock ``store`` from env, keyring or a prompt. ``None``: no store, nothing to do."""
    found = find_passphrase(
        store.path, environ=dict(os.environ), use_keyring=key_settings(host.config).keyring
    )
    if not store.exists:
        if not create:
            return None
        new = found or _new_passphrase(environ_first=True)
        store.unlock(new.value)
        return new
    if found is None:
        if not stdin_is_tty():
            raise KeyStoreLocked(
                "the key store is locked, and stdin is not a terminal to ask for the passphrase",
                hint=LOCKED_HINT,
                path=str(store.path),
            )
        found = Passphrase(
            click.prompt("Key store passphrase", hide_input=True, err=True), "prompt"
        )
    store.unlock(found.value)
    return found


def _open(state: CliState, *, create: bool) -> tuple[Host, KeyStore, Passphrase | None]:
    host = state.make_host()
    store = store_for(host)
    passphrase = _unlock(store, host, create=create)
    return host, store, passphrase


def _with_host(store: KeyStore, host: Host, action: Callable[[], T]) -> T:
    """Run ``action`` inside a started host, so auditor plugins see the change."""

    async def run() -> T:
        host.keys = store  # Host.start() keeps an attached store (see attach_key_store)
        async with host:
            return action()

    return asyncio.run(run())


def _when(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


def _read_value(name: str) -> str:
    if stdin_is_tty():
        value: str = click.prompt(f"Value for {name}", hide_input=True, err=True)
        return value
    raw = sys.stdin.read(MAX_VALUE_BYTES + 2)
    if raw.endswith("\n"):
        raw = raw[:-1]
        if raw.endswith("\r"):
            raw = raw[:-1]
    return raw


@click.group()
def keys() -> None:
    """Manage the encrypted key store (API keys for providers)."""


@keys.command("set")
@click.argument("name")
@click.pass_obj
def set_key(state: CliState, name: str) -> None:
    """Store a secret as NAME: typed at a hidden prompt, or piped on stdin.

    \b
    llf-host keys set OPENAI_API_KEY            # asks for the value
    printf %s "$TOKEN" | llf-host keys set GITHUB_TOKEN
    """

    def run() -> KeyInfo:
        check_name(name)
        host, store, _ = _open(state, create=True)
        value = check_value(name, _read_value(name))
        return _with_host(store, host, lambda: store.set(name, value, source="cli"))

    info = _guard(run)
    verb = "stored" if info.created == info.updated else "updated"
    click.echo(f"{verb} key {info.name}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--names", "names_only", is_flag=True, help="Only the names, one per line.")
@click.pass_obj
def list_keys(state: CliState, as_json: bool, names_only: bool) -> None:
    """List stored key names and dates (never their values)."""

    def run() -> list[KeyInfo]:
        _host, store, passphrase = _open(state, create=False)
        return [] if passphrase is None else store.list()

    infos = _guard(run)
    if as_json:
        rows = [
            {"name": i.name, "created": _when(i.created), "updated": _when(i.updated)}
            for i in infos
        ]
        click.echo(json.dumps([r["name"] for r in rows] if names_only else rows, indent=2))
        return
    if names_only:
        for info in infos:
            click.echo(info.name)
        return
    if not infos:
        click.echo("no keys stored (add one with `llf-host keys set NAME`)")
        return
    width = max(len(i.name) for i in infos)
    for info in infos:
        click.echo(f"{info.name:<{width}}  updated {_when(info.updated)}")


@keys.command("rm")
@click.argument("name")
@click.pass_obj
def remove_key(state: CliState, name: str) -> None:
    """Delete the key NAME."""

    def run() -> None:
        check_name(name)
        host, store, passphrase = _open(state, create=False)
        if passphrase is None:
            from .._errors import KeyNotFoundError

            raise KeyNotFoundError(
                f"no key named {name!r} is stored (there is no key store yet)",
                hint="run `llf-host keys list` to see the stored names",
                key=name,
            )
        _with_host(store, host, lambda: store.delete(name, source="cli"))

    _guard(run)
    click.echo(f"deleted key {name}")


@keys.command("rotate")
@click.pass_obj
def rotate(state: CliState) -> None:
    """Re-encrypt every key under a new passphrase (asked twice, or first line of stdin).

    If the old passphrase came from the OS keyring, the keyring entry is updated.
    """

    def run() -> tuple[int, Passphrase]:
        host, store, old = _open(state, create=False)
        if old is None:
            raise KeyStoreError(
                "there is no key store to rotate yet",
                hint="store a key first: `llf-host keys set NAME`",
                path=str(store.path),
            )
        new = _new_passphrase(environ_first=False)
        count = _with_host(store, host, lambda: store.rotate(new.value, source="cli"))
        if old.source == "keyring":
            keyring_set(store.path, new.value)
        return count, old

    count, old = _guard(run)
    click.echo(f"re-encrypted {count} key(s) under the new passphrase")
    if old.source == "env":
        click.echo("note: LLF_HOST_PASSPHRASE still holds the old passphrase; update it", err=True)
    elif old.source == "keyring":
        click.echo("the OS keyring entry now holds the new passphrase", err=True)


@keys.command("import")
@click.option("--from-env", "from_env", is_flag=True, help="Import the environment VARIABLES.")
@click.option(
    "--from-llm",
    "llm_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Import an llm keys.json file (`llm keys path`).",
)
@click.option("--overwrite", is_flag=True, help="Replace keys that already exist.")
@click.argument("variables", nargs=-1)
@click.pass_obj
def import_keys(
    state: CliState,
    from_env: bool,
    llm_file: Path | None,
    overwrite: bool,
    variables: tuple[str, ...],
) -> None:
    """Import keys from environment variables or from llm's keys.json.

    \b
    llf-host keys import --from-env OPENAI_API_KEY anthropic=ANTHROPIC_API_KEY
    llf-host keys import --from-llm "$(llm keys path)"
    """
    if from_env == (llm_file is not None):
        raise click.UsageError("use exactly one of --from-env VARIABLE... or --from-llm PATH")
    if from_env and not variables:
        raise click.UsageError("--from-env needs at least one VARIABLE (or NAME=VARIABLE)")
    if llm_file is not None and variables:
        raise click.UsageError("--from-llm takes a file, not variables")

    def run() -> tuple[list[str], dict[str, str]]:
        if llm_file is not None:
            plan = read_llm_keys(llm_file)
        else:
            plan = from_environment(variables, os.environ)
        host, store, _ = _open(state, create=True)
        written = _with_host(
            store,
            host,
            lambda: store.set_many(plan.items, overwrite=overwrite, source="cli-import"),
        )
        names = [i.name for i in written]
        skipped = dict(plan.skipped)
        for name in plan.items:
            if name not in names:
                skipped[name] = "already stored (use --overwrite to replace it)"
        return names, skipped

    names, skipped = _guard(run)
    click.echo(f"imported {len(names)} key(s){': ' + ', '.join(names) if names else ''}")
    for name, why in skipped.items():
        click.echo(f"skipped {name}: {why}", err=True)


@keys.command("unlock")
@click.pass_obj
def unlock(state: CliState) -> None:
    """Save the passphrase in the OS keyring, so `serve` opens the store unattended.

    The passphrase is checked against the store first (a new empty store is
    created if there is none). Without the optional `keyring` package and a keyring
    service, set LLF_HOST_PASSPHRASE in the environment that starts llf-host instead.
    Undo with `llf-host keys lock`.
    """

    def run() -> KeyStore:
        if not keyring_available():
            raise KeyStoreError(
                "no OS keyring is available, so there is nothing to unlock into",
                hint="install the keyring extra (pip install 'llf-host[keyring]') where a "
                "keyring service runs; otherwise set LLF_HOST_PASSPHRASE in the environment "
                "of the program that starts `llf-host serve`",
            )
        _host, store, passphrase = _open(state, create=True)
        assert passphrase is not None
        store.create()
        keyring_set(store.path, passphrase.value)
        return store

    store = _guard(run)
    click.echo(f"the passphrase of {store.path} is saved in the OS keyring")
    click.echo("`llf-host serve` now opens the key store without asking; undo: llf-host keys lock")


@keys.command("lock")
@click.pass_obj
def lock(state: CliState) -> None:
    """Remove the passphrase saved by `llf-host keys unlock` from the OS keyring."""

    def run() -> tuple[Path, bool]:
        host = state.make_host()
        path = host.paths.keys_file
        return path, keyring_delete(path)

    path, removed = _guard(run)
    if removed:
        click.echo(f"the OS keyring no longer holds the passphrase of {path}")
    else:
        click.echo(f"no passphrase for {path} was saved in the OS keyring")


@keys.command("path")
@click.option("--json", "as_json", is_flag=True, help="Also show the format and KDF settings.")
@click.pass_obj
def path(state: CliState, as_json: bool) -> None:
    """Show where the key store file is (and, with --json, its format)."""

    def run() -> dict[str, object]:
        host = state.make_host()
        return store_for(host).describe()

    info = _guard(run)
    click.echo(json.dumps(info, indent=2) if as_json else str(info["path"]))

"""The chat's command, added to ``rag`` through the ``rag.commands`` entry-point group (see ``pyproject.toml``)."""

from __future__ import annotations

import typer

from rag.cli import add_passthrough


def serve(args: list[str]) -> None:
    from ui.app import cli

    cli(args, prog_name="rag serve")


def register(app: typer.Typer) -> None:
    add_passthrough(app, "serve", "Start the chat UI (`rag serve --help` for the options).", serve)

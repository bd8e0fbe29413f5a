"""The evaluation commands, added to ``rag`` through the ``rag.commands`` entry-point group (see ``pyproject.toml``)."""

from __future__ import annotations

import typer

from rag.cli import add_passthrough


def evaluate(args: list[str]) -> None:
    from eval.cli import app

    app(args, prog_name="rag eval")


def bench(args: list[str]) -> None:
    from eval.bench import main

    main(args)


def register(app: typer.Typer) -> None:
    add_passthrough(app, "eval", "Score the system on a gold file or an external benchmark (`rag eval --help` for the options).", evaluate)
    add_passthrough(app, "bench", "Benchmark speed and memory: against the stock LangChain pipeline, at scale, MiniLM against e5 (`rag bench --help`).", bench)

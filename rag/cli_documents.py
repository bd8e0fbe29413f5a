"""``rag documents``: list, add, remove (to the trash), restore and purge the documents of a corpus, each change
re-indexed as one transaction (:class:`rag.DocumentManager`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rag.cli import CorpusOpt, IndexOpt, ensure_index, err, friendly, out, plain, settings_from
from rag.errors import RagError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="List, add, remove (to the trash) and restore documents; the index follows each change.")


def _manager(corpus: Path | None, index: Path | None):
    from rag.manager import DocumentManager

    settings = settings_from(corpus_dir=corpus, index_dir=index)
    return DocumentManager(settings.corpus_dir, settings.index_dir, settings), settings


def _confirm(yes: bool, question: str, declined: str) -> None:
    """Go on when ``--yes`` was given or the user answers yes; else say ``declined`` and exit 1."""
    if not yes and not typer.confirm(question, default=False, err=True):
        err.print(declined)
        raise typer.Exit(1)


def _report(change) -> None:
    out.print(plain(change.summary()), highlight=False, soft_wrap=True)
    if change.refused and not (change.added or change.removed or change.restored):
        raise typer.Exit(1)


@app.command("list")
@friendly
def list_(corpus: CorpusOpt = None, index: IndexOpt = None):
    """The indexed documents: name, pages or size, chunks, when added."""
    from rag.documents import list_documents, shown_name
    from rag.index import load_index

    _, settings = _manager(corpus, index)
    ensure_index(settings)
    loaded = load_index(settings.index_dir, settings)
    table = Table()
    for col in ("document", "pages or size", "chunks", "added (UTC)"):
        table.add_column(col, overflow="fold")
    for d in list_documents(loaded, settings.corpus_dir):
        size = f"{d.pages} page(s)" if d.pages else f"{d.size / 1024:.1f} KB"
        table.add_row(plain(shown_name(d.name)), size, str(d.chunks), d.added)
    loaded.close()
    out.print(table)


@app.command()
@friendly
def add(files: Annotated[list[Path], typer.Argument(help="Files to copy into the corpus.")], corpus: CorpusOpt = None,
        index: IndexOpt = None):
    """Copy FILES into the corpus (a taken name becomes 'name (2).ext'; content already there is not stored twice)."""
    manager, _ = _manager(corpus, index)
    for f in files:
        if not f.is_file():
            raise RagError(f"no such file: {f}")
    _report(manager.add(files))


@app.command()
@friendly
def remove(name: Annotated[str, typer.Argument(help="The document, as `rag documents list` names it.")],
           corpus: CorpusOpt = None, index: IndexOpt = None,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False):
    """Move NAME to the trash beside the index and drop it from the index (`rag documents restore NAME` undoes it)."""
    manager, settings = _manager(corpus, index)
    _confirm(yes, f"Move {name} to the trash ({settings.index_dir / 'trash'})?", "nothing removed")
    _report(manager.remove(name))


@app.command("trash")
@friendly
def trash_(corpus: CorpusOpt = None, index: IndexOpt = None):
    """The documents in the trash, most recently removed first."""
    manager, _ = _manager(corpus, index)
    table = Table()
    for col in ("id", "document", "removed (UTC)", "size"):
        table.add_column(col, overflow="fold")
    for e in manager.trash():
        table.add_row(e.id, plain(e.source), e.removed, f"{e.size / 1024:.1f} KB")
    out.print(table)


@app.command()
@friendly
def restore(key: Annotated[str, typer.Argument(help="A trash id, or the document's name (the latest removal).")],
            corpus: CorpusOpt = None, index: IndexOpt = None):
    """Put a document back from the trash into the corpus and the index."""
    manager, _ = _manager(corpus, index)
    _report(manager.restore(key))


@app.command()
@friendly
def purge(key: Annotated[str, typer.Argument(help="A trash id, or the document's name (the latest removal).")],
          corpus: CorpusOpt = None, index: IndexOpt = None,
          yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False):
    """Delete a document from the trash for good."""
    manager, _ = _manager(corpus, index)
    _confirm(yes, f"Delete {key} from the trash for good?", "nothing deleted")
    entry = manager.purge(key)
    out.print(plain(f"deleted {entry.source} (trash id {entry.id}) for good"), highlight=False)

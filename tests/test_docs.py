"""The docs stay honest: the README is a short front door, docs/settings.md is what its generator writes, every
relative link and anchor resolves, and every command, make target, module and repository path quoted in
README.md and docs/*.md exists. Each checker also gets a synthetic page with a mistake, so none passes
everything silently."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import typer
from markdown_it import MarkdownIt
from markdown_it.token import Token
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README_MAX_LINES = 200


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_settings", DOCS / "generate_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- reading markdown (markdown-it-py, CommonMark with tables) -------------------------------------------------

MD = MarkdownIt("commonmark").enable("table")


def inline_tokens(text: str) -> list[Token]:
    """Every inline token of ``text`` (links, images, code spans, text), in document order."""
    return [child for token in MD.parse(text) if token.type == "inline" for child in token.children or ()]


def code_of(text: str) -> list[str]:
    """The code quoted in ``text``: each fenced or indented block whole, then each code span."""
    blocks = [t.content for t in MD.parse(text) if t.type in ("fence", "code_block")]
    return blocks + [t.content.strip() for t in inline_tokens(text) if t.type == "code_inline"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text without markup, lower case, punctuation (but - and _) dropped,
    spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit ids."""
    seen: dict[str, int] = {}
    out = set(re.findall(r"""<a\s+(?:id|name)=["']([^"']+)["']""", text))
    tokens = MD.parse(text)
    for opening, heading in zip(tokens, tokens[1:]):
        if opening.type == "heading_open":
            base = slug("".join(c.content for c in heading.children or () if c.type in ("text", "code_inline")))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def check_links(page: Path) -> list[str]:
    """Relative links (and images) of ``page`` whose file does not exist, or whose ``#anchor`` is not in it."""
    problems = []
    for token in inline_tokens(page.read_text(encoding="utf-8")):
        target = unquote(token.attrs.get("href") or token.attrs.get("src") or "")
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{page.name}: link to a missing file: {target}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
            problems.append(f"{page.name}: link to a missing anchor: {target}")
    return problems


# --- commands -----------------------------------------------------------------------------------------------

runner = CliRunner()


@functools.cache
def rag_commands() -> dict[str, object]:
    from rag.cli import app

    return dict(typer.main.get_command(app).commands)


@functools.cache
def command_help(sub: str) -> str:
    """``rag SUB --help`` as printed (front ends' commands pass --help on to their own command line)."""
    from rag.cli import app

    result = runner.invoke(app, [sub, "--help"], env={"COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb"}, terminal_width=240)
    assert result.exit_code == 0, f"rag {sub} --help failed: {result.output}"
    return result.output


def help_flags(sub: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", command_help(sub)))


@functools.cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set()
    for line in text.split("\n"):
        m = re.match(r"^([A-Za-z0-9_.$()/ -]+?)\s*:(?!=)", line)
        if m and not line.startswith("\t"):
            targets |= set(m.group(1).split())
    return targets


RAG_CALL = re.compile(r"(?:^|(?<=[\s(=]))rag[ \t]+([a-z][a-z0-9-]*)(.*)")
SEGMENTS = re.compile(r"\s\|\|?\s|;|&&")
FLAG = re.compile(r"(?<![\w./=-])(--?[A-Za-z][\w-]*)")
PATH = re.compile(r"(?<![\w./~-])((?:rag|eval|ui|tests|docs|seeds)/[\w./-]*)")


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a parent package that does not exist
        return False


def check_code(code: str, where: str) -> list[str]:
    """Problems with the commands, make targets, modules and repository paths quoted in one code block or span."""
    problems = []
    for line in code.split("\n"):
        command = re.split(r"(?:^|\s)#", line)[0]  # a shell or Python comment is prose
        for m in filter(None, map(RAG_CALL.search, SEGMENTS.split(command))):
            sub, rest = m.group(1), m.group(2)
            if sub not in rag_commands():
                problems.append(f"{where}: `rag {sub}`: no such command")
                continue
            missing = sorted(set(FLAG.findall(rest)) - help_flags(sub))
            if missing:
                problems.append(f"{where}: `rag {sub}` has no option {', '.join(missing)}")
        for target in re.findall(r"(?:^|(?<=[\s;&(]))make[ \t]+([A-Za-z][\w-]*)", command):
            if target not in make_targets():
                problems.append(f"{where}: `make {target}`: no such Makefile target")
        for module in re.findall(r"python3?[ \t]+-m[ \t]+([A-Za-z_][\w.]*)", line):
            if not module_exists(module):
                problems.append(f"{where}: `python -m {module}`: no such module")
        for path in PATH.findall(line):
            path = path.rstrip(".")
            if not (ROOT / path).exists():
                problems.append(f"{where}: {path}: no such file or folder")
        for script in re.findall(r"python3?[ \t]+((?:[\w.-]+/)*[\w.-]+\.py)\b", line):
            if not (ROOT / script).exists():
                problems.append(f"{where}: `python {script}`: no such script")
    return problems


def check_page_code(page: Path) -> list[str]:
    return [p for block in code_of(page.read_text(encoding="utf-8")) for p in check_code(block, page.name)]


# --- the checks on the real docs ----------------------------------------------------------------------------


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; keep it to {README_MAX_LINES} and move detail to docs/"


def test_the_settings_page_is_generated_from_settings():
    generator = load_generator()
    assert (DOCS / "settings.md").read_text(encoding="utf-8") == generator.render(), \
        "docs/settings.md is stale: run `python docs/generate_settings.py`"


def test_the_settings_page_covers_every_field():
    from rag.config import Settings

    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"| `{name}` |" in page and f"`RAG_{name.upper()}`" in page, name


def test_every_flag_the_settings_page_names_exists():
    generator = load_generator()
    for name, (flag, commands) in generator.FLAGS.items():
        for sub in commands:
            assert flag in help_flags(sub), f"settings: {name}: `rag {sub}` has no {flag}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page):
    assert check_links(page) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_quoted_commands_and_paths_exist(page):
    assert check_page_code(page) == []


def test_the_readme_settings_table_matches_settings():
    from rag.config import Settings

    generator = load_generator()
    rows = re.findall(r"^\| `(\w+)` \| `(RAG_\w+)` \| ([^|]+) \|", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    assert len(rows) >= 5
    for name, env, default in rows:
        assert name in Settings.model_fields, f"README: no setting {name}"
        assert env == f"RAG_{name.upper()}", f"README: {name} is read from RAG_{name.upper()}, not {env}"
        assert default.strip() == generator.default_text(Settings.model_fields[name].default), f"README: default of {name}"


def test_every_docs_page_is_linked_from_both_indexes():
    docs = {p.name for p in DOCS.glob("*.md") if p.name != "README.md"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert {name for name in docs if f"(docs/{name}" not in readme} == set()
    assert {name for name in docs if f"({name}" not in index} == set()


# --- each checker finds what it is there to find ------------------------------------------------------------


def test_the_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: yes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md) [fine too](other.md#a-code-heading-yes) [here](#page) [web](https://example.com/x)\n"
        "[gone](missing.md) [no anchor](other.md#nowhere) [no local anchor](#nothing) ![picture](missing.png)\n"
        "`[in code](ignored.md)`\n\n```\n[in a block](ignored.md)\n```\n",
        encoding="utf-8")
    assert check_links(page) == [
        "page.md: link to a missing file: missing.md",
        "page.md: link to a missing anchor: other.md#nowhere",
        "page.md: link to a missing anchor: #nothing",
        "page.md: link to a missing file: missing.png",
    ]


def test_slugs_follow_github():
    assert slug("Training the fusion (`rag train-fusion`)") == "training-the-fusion-rag-train-fusion"
    assert slug("Answers: e5, the learned fusion, evidence sets, three outcomes") == "answers-e5-the-learned-fusion-evidence-sets-three-outcomes"
    assert anchors("# A\n## A\n") == {"a", "a-1"}


def test_the_command_checker_finds_unknown_commands_flags_targets_modules_and_paths(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Fine: `rag index --corpus seeds --force`, `RAG_TOP_K=3 rag ask -k 3 \"q\" --json  # --nonsense in a comment`,\n"
        "`rag eval --benchmark ../shared/x --split test`, `rag bench --embedders`, `make test`, `python -m eval.bench`,\n"
        "`rag/answerers/rules.py`, `build/eval/whatever`.\n\n"
        "```bash\nrag serve --port 7861 --no-such-flag\nrag chat\nmake deploy\npython -m eval.bench_embedders\n"
        "python docs/nowhere.py\ncat rag/answerers/nowhere.py\n```\n",
        encoding="utf-8")
    assert check_page_code(page) == [
        "page.md: `rag serve` has no option --no-such-flag",
        "page.md: `rag chat`: no such command",
        "page.md: `make deploy`: no such Makefile target",
        "page.md: `python -m eval.bench_embedders`: no such module",
        "page.md: docs/nowhere.py: no such file or folder",
        "page.md: `python docs/nowhere.py`: no such script",
        "page.md: rag/answerers/nowhere.py: no such file or folder",
    ]


def test_the_settings_check_fails_on_a_stale_page(tmp_path, monkeypatch, capsys):
    generator = load_generator()
    monkeypatch.setattr(generator, "PAGE", tmp_path / "docs" / "settings.md")
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    generator.PAGE.write_text("# Settings\n\nout of date\n", encoding="utf-8")
    assert generator.main(["--check"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["docs/settings.md is stale: run `python docs/generate_settings.py`"]
    assert generator.main([]) == 0 and generator.main(["--check"]) == 0


def test_the_generator_refuses_notes_on_fields_that_do_not_exist(monkeypatch):
    generator = load_generator()
    monkeypatch.setitem(generator.NOTES, "no_such_setting", "gone")
    with pytest.raises(SystemExit, match="no_such_setting"):
        generator.render()

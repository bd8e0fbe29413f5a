"""The layers: ``rag`` (the library) never imports its front ends ``ui`` and ``eval``, which add their commands to
``rag`` through the ``rag.commands`` entry-point group."""

import ast
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = {"ui", "eval"}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in the file, wherever it stands (module level or inside a function)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.split(".")[0])
    return names


def test_the_library_never_imports_its_front_ends():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_packages(p) & FRONT_ENDS) for p in sorted((ROOT / "rag").rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_graph_check_sees_late_imports(tmp_path):
    sample = tmp_path / "late.py"
    sample.write_text("def f():\n    from eval.cli import app\n    import ui.app\n    importlib.import_module('eval.bench')\n")
    assert imported_packages(sample) == {"eval", "ui"}


def test_front_ends_register_their_commands_through_the_entry_point_group():
    registered = {ep.name: ep.value for ep in entry_points(group="rag.commands")}
    assert registered == {"eval": "eval.commands:register", "ui": "ui.commands:register"}
    listing = subprocess.run([sys.executable, "-m", "rag.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for command in ("index", "search", "ask", "serve", "eval", "bench"):
        assert f" {command} " in listing.stdout


def test_importing_the_library_loads_no_front_end():
    code = "import sys, rag, rag.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {'ui', 'eval', 'gradio'}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    # only the front ends' light `commands` modules, which registered serve / eval / bench
    assert done.stdout.strip() == "['eval', 'eval.commands', 'ui', 'ui.commands']"

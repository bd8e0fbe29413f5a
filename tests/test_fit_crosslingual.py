"""Fitting the cross-lingual answer threshold on a tiny cross-lingual benchmark (the real chain and model)."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

import typer

from eval.fit_crosslingual import main
from rag.fusion.model import card_path

TINY = Path(__file__).parent / "fixtures" / "bench_tiny"
ASKED = {  # id: (German question, English question); the second paragraph of each article is left out of the index
    "t1": ("Wie viele Arbeiterinnen kann ein Honigbienenvolk haben?", True),
    "t2": ("Wer entwarf den heutigen Turm des Eddystone-Leuchtturms?", True),
    "t3": ("Welchen Brennstoff verbrannten Leuchtturmwärter vor den elektrischen Lampen?", False),
    "t4": ("Welche Stadt haben Lavaströme des Ätna erreicht?", True),
    "t5": ("Warum kann Bimsstein auf dem Wasser schwimmen?", False),
}


def test_the_threshold_is_fitted_on_answerable_and_left_out_questions_and_written_to_the_card(tmp_path):
    bench = tmp_path / "xling"
    bench.mkdir()
    shutil.copy(TINY / "corpus.jsonl", bench)
    rows = [json.loads(line) for line in (TINY / "qa.jsonl").read_text().splitlines()]
    out = []
    for row in rows:
        if row["id"] in ASKED:
            out.append({**row, "id": row["id"] + "-en", "lang": "en"})
            out.append({**row, "id": row["id"] + "-de", "lang": "de", "question": ASKED[row["id"]][0]})
    (bench / "qa.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    card = tmp_path / "e5-small.json"
    shutil.copy(card_path("e5-small"), card)
    app = typer.Typer()
    app.command()(main)
    result = CliRunner().invoke(app, [str(bench), "--per-language", "10", "--card", str(card)])
    assert result.exit_code == 0, result.output
    assert "chosen:" in result.output and "on 5 cross-lingual questions" in result.output
    written = json.loads(card.read_text())["crosslingual"]
    assert 0 < written["thresholds"]["answer"] < 0.6
    assert written["fitted_on"]["paragraphs_indexed"] == 3 and written["fitted_on"]["paragraphs_left_out"] == 3
    assert written["ranking"] == json.loads(card_path("e5-small").read_text())["crosslingual"]["ranking"]
    bad = CliRunner().invoke(app, [str(tmp_path / "missing"), "--card", str(card)])
    assert bad.exit_code == 1 and "not found" in bad.output

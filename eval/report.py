"""Evaluation reports: the printed summary table, ``report.md``, ``report.json``, PNG charts, and comparisons.

A report is a plain dict (what ``report.json`` holds)::

    {"kind": "gold" | "benchmark", "name", "created", "settings": {...}, "inputs": {...},
     "metrics": {group: {metric: value}}, "notes": [...], "latencies_ms": {"answer": [...], ...}}

For a gold file the groups are ``overall`` and each question type; for a benchmark ``retrieval`` and
``answers``. ``compare`` lines up two reports metric by metric.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

import rag
from eval.metrics import percentiles

REPORT_VERSION = 1
CHART_SCORES = "scores.png"
CHART_LATENCY = "latency.png"
CHART_TRADEOFF = "tradeoff.png"

LOWER_IS_BETTER = ("latency", "_ms", "words", "none_on_answerable", "answered_on_unanswerable")
"""Metrics whose name contains one of these are better when smaller (a negative delta is an improvement)."""
NEUTRAL = ("items", "questions", "answered", "abstention_rate")
"""Counts and rates that are neither better nor worse when they change."""

GOLD_CHART_METRICS = ("recall@5", "mrr", "keyword_accuracy", "token_f1", "citation_precision", "citation_recall",
                      "abstention_precision", "abstention_recall")
BENCH_CHART_METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "answer_containment", "exact_match",
                       "token_f1", "abstention_precision", "abstention_recall")
FEEDBACK_CHART_METRICS = ("pass_rate",)


def fmt(name: str, value) -> str:
    """A metric value for display: counts as integers, milliseconds with one decimal, scores with three."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if name in NEUTRAL[:3]:
        return str(int(value))
    if name.endswith("_ms") or "words" in name:
        return f"{value:.1f}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def metric_names(metrics: dict[str, dict]) -> list[str]:
    """Every metric name of the groups, in first-seen order."""
    return list(dict.fromkeys(m for group in metrics.values() for m in group))


def summary_table(report: dict) -> Table:
    """The metrics as a rich table: one row per metric, one column per group."""
    metrics = report["metrics"]
    table = Table(title=f"{report.get('kind', 'eval')}: {report.get('name', '')}", title_justify="left")
    table.add_column("metric", style="bold", no_wrap=True)
    for group in metrics:
        table.add_column(group, justify="right", no_wrap=True, header_style="bold", overflow="fold")
    for name in metric_names(metrics):
        table.add_row(name, *(fmt(name, metrics[g].get(name)) for g in metrics))
    return table


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(metrics: dict[str, dict]) -> str:
    groups = list(metrics)
    rows = [[name, *(fmt(name, metrics[g].get(name)) for g in groups)] for name in metric_names(metrics)]
    return markdown_table(["metric", *groups], rows)


LANGUAGE_COLUMNS = ("questions", "hit@1", "answered", "answered_rate", "answered_with_answer")
LANGUAGE_RATES = ("hit@1", "answered_rate", "answered_with_answer")


def language_rows(languages: dict[str, dict]) -> list[list[str]]:
    """One row per question language (``report["languages"]``), then their mean and the non-English mean."""
    rows = [[lang, *(fmt(c, m.get(c)) for c in LANGUAGE_COLUMNS)] for lang, m in languages.items()]
    for label, langs in (("mean", list(languages)), ("mean, not English", [x for x in languages if x != "en"])):
        if len(langs) > 1:
            rows.append([label, *(fmt(c, _mean([languages[x].get(c) for x in langs])) if c in LANGUAGE_RATES else ""
                                  for c in LANGUAGE_COLUMNS)])
    return rows


def languages_markdown(languages: dict[str, dict]) -> str:
    return markdown_table(["language", *LANGUAGE_COLUMNS], language_rows(languages))


def languages_table(languages: dict[str, dict]) -> Table:
    table = Table("language", *LANGUAGE_COLUMNS, title="by question language")
    for row in language_rows(languages):
        table.add_row(*row)
    return table


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def render_markdown(report: dict) -> str:
    """``report.md``: what was run, the metrics table, notes and the charts."""
    s = report.get("settings", {})
    lines = [f"# Evaluation: {report.get('name', '')} ({report.get('kind', '')})", ""]
    lines.append(f"Created {report.get('created', '')}.")
    if report.get("command"):
        lines += ["", f"Command: `{report['command']}`"]
    inputs = report.get("inputs", {})
    if inputs:
        lines += ["", "Inputs: " + ", ".join(f"{k} `{v}`" for k, v in inputs.items()) + "."]
    if s:
        keys = ("mode", "top_k", "rrf_k", "dense_weight", "paragraph_weight", "candidates", "chunk_max_sentences",
                "chunk_max_chars", "chunk_overlap_sentences", "chunk_keep_references", "embedding_model")
        lines += ["", "Settings: " + ", ".join(f"{k}={s[k]}" for k in keys if k in s) + "."]
    lines += ["", metrics_markdown(report["metrics"]), ""]
    if report.get("languages"):
        lines += ["By question language:", "", languages_markdown(report["languages"]), ""]
    if report.get("tradeoff"):
        t = report["tradeoff"]
        lines += [f"Answered vs abstained as the answerer's threshold moves (the system runs at {t['threshold']}):", ""]
        rows = [[f"{c['threshold']:.2f}" + (" ←" if abs(c["threshold"] - t["threshold"]) < 0.01 else ""),
                 fmt("x", c["answered"]), fmt("x", c["abstained"]), fmt("x", c["mean"])] for c in t["curve"][::2]]
        lines += [markdown_table(["threshold", "answered (answer in text)", "abstained (unanswerable)", "mean"], rows), ""]
    if report.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in report["notes"]] + [""]
    for chart in report.get("charts", []):
        lines += [f"![{Path(chart).stem}]({chart})", ""]
    return "\n".join(lines)


def _chart_series(report: dict) -> tuple[list[str], list[str], dict[str, list[float]]]:
    """Groups on the x axis, metric names (one bar colour each), and per metric the value of each group.

    A gold report has one group per question type, a feedback report one per verdict; a benchmark report one
    group per metric (a single series).
    """
    metrics = report["metrics"]
    if report.get("kind") == "benchmark":
        merged = {k: v for g in metrics.values() for k, v in g.items()}
        groups = [m for m in BENCH_CHART_METRICS if merged.get(m) is not None]
        return groups, ["score"], {"score": [float(merged[m]) for m in groups]}
    chart = FEEDBACK_CHART_METRICS if report.get("kind") == "feedback" else GOLD_CHART_METRICS
    groups = [g for g in metrics if g != "overall"] + (["overall"] if "overall" in metrics else [])
    names = [m for m in chart if any(metrics[g].get(m) is not None for g in groups)]
    values = {m: [float("nan") if metrics[g].get(m) is None else float(metrics[g][m]) for g in groups] for m in names}
    return groups, names, values


def answered_label(group: dict) -> str | None:
    """"answered N of M" for a group of metrics that counts its answers, else None."""
    items = group.get("items")
    if not items:
        return None
    if group.get("answered") is not None:
        answered = group["answered"]
    elif group.get("abstention_rate") is not None:
        answered = round(items * (1 - group["abstention_rate"]))
    else:
        return None
    return f"answered {int(answered)} of {int(items)}"


def scores_figure(report: dict):
    """The scores chart (a matplotlib figure, or None when there is nothing to draw): every bar carries its value,
    0 included ("n/a" where the group has none); each group's label, or the title of a benchmark's, says how many
    questions were answered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups, names, values = _chart_series(report)
    if not (names and groups):
        return None
    metrics, benchmark = report["metrics"], report.get("kind") == "benchmark"
    single = len(names) == 1
    fig, ax = plt.subplots(figsize=(min(16, 4 + 1.2 * len(groups) * max(1, len(names)) / 4), 4.8))
    width = 0.8 / len(names)
    for i, m in enumerate(names):
        xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, [0.0 if math.isnan(v) else v for v in values[m]], width, label=m)
        ax.bar_label(bars, labels=["n/a" if math.isnan(v) else f"{v:.3f}" for v in values[m]],
                     fontsize=8 if single else 6, rotation=0 if single else 90, padding=2)
    ticks = groups if benchmark else [
        g + (f"\n{label}" if (label := answered_label(metrics[g])) else "") for g in groups]
    ax.set_xticks(range(len(groups)), ticks, rotation=20 if len(groups) > 4 else 0, fontsize=8)
    ax.set_ylim(0, 1.1 if single else 1.25)  # room for the values above the bars
    ax.set_yticks([i / 5 for i in range(6)])
    ax.set_ylabel(names[0] if single and not benchmark else "score")
    title = f"{report.get('name', '')}: scores" + {"gold": " per question type", "feedback": " per verdict"}.get(report.get("kind"), "")
    answered = next((answered_label(g) for g in metrics.values() if answered_label(g)), None) if benchmark else None
    ax.set_title(title + (f" ({answered})" if answered else ""), fontsize=10)
    if not single:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def write_charts(report: dict, out_dir: Path) -> list[str]:
    """``scores.png`` (:func:`scores_figure`), ``tradeoff.png`` (a benchmark's answered-vs-abstained curve) and
    ``latency.png`` (histogram)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig = scores_figure(report)
    if fig is not None:
        fig.savefig(out_dir / CHART_SCORES, dpi=110)
        plt.close(fig)
        written.append(CHART_SCORES)
    curve = [c for c in (report.get("tradeoff") or {}).get("curve", []) if c["answered"] is not None and c["abstained"] is not None]
    if curve:
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
        ax.plot([c["abstained"] for c in curve], [c["answered"] for c in curve], marker=".", label="threshold 0.02…0.98")
        t = report["tradeoff"]["threshold"]
        at = min(curve, key=lambda c: abs(c["threshold"] - t))
        ax.scatter([at["abstained"]], [at["answered"]], color="red", zorder=3, label=f"calibrated threshold {t}")
        ax.set_xlabel("unanswerable questions abstained on")
        ax.set_ylabel("answerable questions answered (answer in the text)")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        ax.set_title(f"{report.get('name', '')}: answered vs abstained")
        fig.tight_layout()
        fig.savefig(out_dir / CHART_TRADEOFF, dpi=110)
        plt.close(fig)
        written.append(CHART_TRADEOFF)
    series = {k: v for k, v in (report.get("latencies_ms") or {}).items() if v}
    if series:
        fig, axes = plt.subplots(1, len(series), figsize=(5.5 * len(series), 3.8), squeeze=False)
        for ax, (kind, vals) in zip(axes[0], series.items()):
            ax.hist(vals, bins=min(40, max(5, len(vals) // 5)), color="tab:blue", alpha=0.8)
            lat = percentiles(vals)
            p50, p95 = lat["p50"], lat["p95"]
            for x, label, style in ((p50, "p50", "-"), (p95, "p95", "--")):
                ax.axvline(x, color="black", linestyle=style, linewidth=1, label=f"{label} {x:.0f} ms")
            ax.set_xlabel(f"{kind} latency (ms)")
            ax.set_ylabel("questions")
            ax.legend(fontsize=8)
        fig.suptitle(f"{report.get('name', '')}: latency")
        fig.tight_layout()
        fig.savefig(out_dir / CHART_LATENCY, dpi=110)
        plt.close(fig)
        written.append(CHART_LATENCY)
    return written


def write_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, the charts and ``report.md`` into ``out_dir``; return the paths by kind."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        report = dict(report, version=REPORT_VERSION)
        report["charts"] = write_charts(report, out_dir)
        (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    except OSError as exc:
        raise rag.RagError(f"cannot write the report to {out_dir}: {exc}") from None
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md"}
    paths.update({Path(c).stem: out_dir / c for c in report["charts"]})
    return paths


def load_report(path: str | Path) -> dict:
    """A ``report.json`` (or a directory holding one); a clear error for anything else."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise rag.RagError(f"report not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise rag.RagError(f"cannot read report {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise rag.RagError(f"{path} is not an evaluation report (no metrics): write one with `rag eval --report DIR`")
    return data


def _better(name: str, delta: float) -> int:
    """+1 if the change is an improvement, -1 if worse, 0 if neutral or none."""
    if not delta or name in NEUTRAL:
        return 0
    sign = 1 if delta > 0 else -1
    return -sign if any(t in name for t in LOWER_IS_BETTER) else sign


def compare_rows(a: dict, b: dict) -> list[tuple[str, str, object, object, float | None]]:
    """``(group, metric, value in A, value in B, B - A)`` for every metric of either report."""
    ma, mb = a["metrics"], b["metrics"]
    rows = []
    for group in dict.fromkeys([*ma, *mb]):
        ga, gb = ma.get(group, {}), mb.get(group, {})
        for name in dict.fromkeys([*ga, *gb]):
            va, vb = ga.get(name), gb.get(name)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
            rows.append((group, name, va, vb, (vb - va) if numeric else None))
    return rows


def _delta(name: str, delta: float | None) -> str:
    if delta is None:
        return "–"
    if name.endswith("_ms") or "words" in name:
        return f"{delta:+.1f}"
    if name in NEUTRAL[:3]:
        return f"{delta:+.0f}"
    return f"{delta:+.3f}"


def compare_table(a: dict, b: dict, label_a: str = "A", label_b: str = "B") -> Table:
    """The rich table of ``compare_rows``; improvements green, regressions red."""
    table = Table(title=f"{label_a} → {label_b}", title_justify="left")
    for col, justify in (("group", "left"), ("metric", "left"), (label_a, "right"), (label_b, "right"), ("delta", "right")):
        table.add_column(col, justify=justify)
    for group, name, va, vb, delta in compare_rows(a, b):
        style = {1: "green", -1: "red", 0: ""}[_better(name, delta or 0)]
        table.add_row(group, name, fmt(name, va), fmt(name, vb), f"[{style}]{_delta(name, delta)}[/]" if style else _delta(name, delta))
    return table


def compare_markdown(a: dict, b: dict, label_a: str = "A", label_b: str = "B") -> str:
    rows = [[g, n, fmt(n, va), fmt(n, vb), _delta(n, d)] for g, n, va, vb, d in compare_rows(a, b)]
    return markdown_table(["group", "metric", label_a, label_b, "delta"], rows)

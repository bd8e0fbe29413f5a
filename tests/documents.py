"""Real PDF, Word and HTML files made here from the seed article (for the ingestion tests)."""

from __future__ import annotations

from pathlib import Path

SEED = next((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))


def paragraphs() -> list[str]:
    return [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n") if p.strip()]


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with a text layer: each inner list of paragraphs on its own page (core font: Latin-1 text)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in pages:
        pdf.add_page()
        for para in page:
            text = para.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("—", "-").replace("–", "-")
            pdf.multi_cell(0, 6, text.encode("latin-1", "replace").decode("latin-1"))
            pdf.ln(4)
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path) -> Path:
    """A PDF whose page holds only drawing (no text layer), like a scan."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def make_docx(path: Path, paras: list[str], table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Notes", level=1)
    for para in paras:
        document.add_paragraph(para)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    document.save(str(path))
    return path


def make_html(path: Path, paras: list[str]) -> Path:
    body = "".join(f"<p>{p}</p>" for p in paras)
    path.write_text(
        "<!doctype html><html><head><title>Dialogue</title><style>p { color: red; } .secret-style {}</style>"
        "<script>var trackingSecret = 'script text must not be indexed';</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>Navigation menu link</a></nav>"
        f"<article><h1>The Seventh Round</h1>{body}</article>"
        "<footer>Copyright footer boilerplate</footer></body></html>",
        encoding="utf-8",
    )
    return path

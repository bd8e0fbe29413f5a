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


def make_faq_html(path: Path) -> Path:
    """A bike-hire FAQ page: its questions are <h3> headings, the answers paragraphs under them."""
    path.write_text(
        "<html><head><title>FAQ</title></head><body><main><article><h1>Frequently asked questions</h1>"
        "<p>Canal Cycles rents bikes from the old lock-keeper's cottage on Wharf Street in Leeford.</p>"
        "<h2>Booking and prices</h2><h3>How much does it cost to rent a bike?</h3><p>A standard city bike costs "
        "£12 for up to 2 hours and £28 for a full day. An e-bike costs £20 for 2 hours.</p>"
        "<h3>Is a helmet included?</h3><p>Helmets, a lock and a puncture repair kit are included free with every "
        "rental.</p><h3>What are your opening hours?</h3><p>From April to October we are open every day from 9am "
        "to 6pm.</p></article></main></body></html>", encoding="utf-8")
    return path

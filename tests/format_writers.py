"""Write one article (a title and its paragraphs) as a saved web page, a PDF, a Word file and an EPUB.

The tests make these versions of a seed article on the fly, so they always hold the seed's
current text: PDF with fpdf2 (in a font matplotlib ships), EPUB with EbookLib, DOCX as the zipped
XML Word itself writes, HTML as a news site's page with navigation, ads, related links and comments.
"""

from __future__ import annotations

import datetime as dt
import html
import zipfile
from pathlib import Path

from rag.schema import is_heading


def seed_lines(path: Path) -> tuple[str, list[str]]:
    """A .txt article's title and its other non-empty lines."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0], lines[1:]


def write_html(path: Path, title: str, lines: list[str], date: str | None = "2025-12-03") -> Path:
    """A saved page of a news site around the article: menus, ads, a share bar, related stories, comments."""
    body = "\n".join(
        f"<h2>{html.escape(line)}</h2>" if is_heading(line) else f"<p>{html.escape(line)}</p>"
        for line in lines
    )
    published = f'<meta property="article:published_time" content="{date}T07:00:00+00:00">' if date else ""
    path.write_text(
        f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} | World Desk</title>
<meta property="og:title" content="{html.escape(title)}">
{published}
<meta name="author" content="World Desk staff">
<script>var ads = [];</script></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/europe">Europe</a>
<a href="/opinion">Opinion</a> <a href="/subscribe">Subscribe today and save half</a></nav></header>
<div class="ad-banner">Advertisement <a href="/ad">Cheap flights to Miami from 199 dollars</a></div>
<main><article><h1>{html.escape(title)}</h1><p class="byline">By World Desk staff</p>
{body}
<div class="share">Share this article: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>
</article>
<section class="related"><h2>Related stories</h2><ul>
<li><a href="/a1">Ceasefire talks to resume in Geneva next month, diplomats say</a></li>
<li><a href="/a2">European leaders meet in Brussels to discuss sanctions package</a></li></ul></section>
<section id="comments" class="comments"><h2>Comments</h2>
<div class="comment"><b>reader42</b> <time datetime="2025-12-05">5 December 2025</time>
<p>Nothing will come of these talks as long as the war goes on, in my view.</p></div></section>
</main><aside><h3>Most read</h3><ol><li><a href="/m1">Storm closes airports across the north</a></li></ol>
<div class="ad">Advertisement: the new hybrid SUV, test drive it this weekend</div></aside>
<footer>&copy; 2025 World Desk. <a href="/privacy">Privacy</a> <a href="/contact">Contact us</a></footer>
</body></html>""",
        encoding="utf-8",
    )
    return path


def write_pdf(path: Path, title: str, lines: list[str], date: str | None = "2025-12-03") -> Path:
    """An A4 PDF of the article as a browser prints it: justified paragraphs in a proportional font."""
    import matplotlib
    from fpdf import FPDF

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author("World Desk staff")
    pdf.set_creation_date(dt.datetime.fromisoformat(f"{date or '2000-01-01'}T07:00:00+00:00"))
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for line in lines:
        heading = is_heading(line)
        pdf.set_font("DejaVu", "B" if heading else "", 11 if heading else 10.5)
        pdf.multi_cell(0, 5.5, line, align="L" if heading else "J", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.output(str(path))
    if not date:  # fpdf2 always dates a file: keep only the title and author
        import pypdf

        writer = pypdf.PdfWriter(clone_from=str(path))
        writer.metadata = {"/Title": title, "/Author": "World Desk staff"}
        writer.write(str(path))
    return path


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def write_docx(path: Path, title: str, lines: list[str], date: str | None = "2025-12-03") -> Path:
    """A Word file: the title and headings as styled paragraphs, title and date in its core properties."""

    def para(text: str, style: str = "") -> str:
        props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        return f'<w:p>{props}<w:r><w:t xml:space="preserve">{html.escape(text)}</w:t></w:r></w:p>'

    paragraphs = [para(title, "Title")] + [
        para(line, "Heading2" if is_heading(line) else "") for line in lines
    ]
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}"><w:body>{"".join(paragraphs)}</w:body></w:document>'
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{html.escape(title)}</dc:title><dc:creator>World Desk staff</dc:creator>"
        + (f'<dcterms:created xsi:type="dcterms:W3CDTF">{date}T07:00:00Z</dcterms:created>' if date else "")
        + "</cp:coreProperties>"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", document)
        z.writestr("docProps/core.xml", core)
    return path


def write_epub(path: Path, title: str, lines: list[str], date: str | None = "2025-12-03") -> Path:
    """An EPUB 3 book of one chapter, with its title, author and date in the package metadata."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier(f"urn:rag-news:{path.stem}")
    book.set_title(title)
    book.set_language("en")
    book.add_author("World Desk staff")
    if date:
        book.add_metadata("DC", "date", date)
    body = "".join(
        f"<h2>{html.escape(line)}</h2>" if is_heading(line) else f"<p>{html.escape(line)}</p>"
        for line in lines
    )
    chapter = epub.EpubHtml(title=title, file_name="article.xhtml", lang="en")
    chapter.content = f"<html><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    book.add_item(chapter)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapter]
    epub.write_epub(str(path), book)
    return path


WRITERS = {".html": write_html, ".pdf": write_pdf, ".docx": write_docx, ".epub": write_epub}

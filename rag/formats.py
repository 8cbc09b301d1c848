"""Saved pages and documents as articles: HTML through trafilatura, PDF/DOCX/EPUB through LlamaIndex's file readers.

Each reader is imported only when a file of its kind is read, so a corpus of .txt files never
loads trafilatura or llama-index. Every failure is an `Unreadable` whose message names the fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.schema import Article

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

HTML_SUFFIXES = {".html", ".htm"}
DOCUMENT_SUFFIXES = {".pdf", ".docx", ".epub"}
_EXTRA = "pip install 'rag-news[llamaindex]'"


class Unreadable(Exception):
    """A file that cannot be read as an article; the message says why (and what to do)."""


# -- HTML ------------------------------------------------------------------------------------

# A reader comment is not the article: its author, its date and its text are not the article's.
_COMMENT_BLOCK = re.compile(
    r"(?:^|[\s_-])(?:comments?|comment-list|commentlist|respond|disqus\w*)(?:$|[\s_-])", re.I
)


def read_html(path: Path, data: bytes) -> Article:
    """A saved news page: its main text and metadata (title, authors, date, url) by trafilatura;
    the date by htmldate's wider search when the page's own markup gives none."""
    import htmldate
    import trafilatura

    with _quiet("trafilatura"), _quiet("htmldate"):
        return _html_article(path, data, trafilatura, htmldate)


def _html_article(path: Path, data: bytes, trafilatura: Any, htmldate: Any) -> Article:
    tree = trafilatura.load_html(data)
    if tree is None:
        raise Unreadable("not an HTML page (no markup could be parsed)")
    for element in [e for e in tree.iter() if isinstance(e.tag, str) and _is_comment_block(e)]:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
    own_date_only = {"original_date": True, "extensive_search": False}
    found = trafilatura.bare_extraction(
        tree, include_comments=False, with_metadata=True, date_extraction_params=own_date_only
    )
    doc: dict[str, Any] = found if isinstance(found, dict) else found.as_dict() if found is not None else {}
    lines = [line.strip() for line in str(doc.get("text") or "").splitlines() if line.strip()]
    if not lines:
        raise Unreadable("no article text found in the page")
    date = doc.get("date") or _dated_in_text(
        tree, htmldate.find_date(tree, extensive_search=True, original_date=True)
    )
    title = " ".join(str(doc.get("title") or "").split()) or lines[0]
    return Article(
        article_id=path.stem,
        title=title,
        text="\n".join([title, *lines]),
        source=str(path),
        url=str(doc.get("url") or ""),
        authors=tuple(a.strip() for a in str(doc.get("author") or "").split(";") if a.strip()),
        publish_date=_iso_date(str(date)),
    )


def _dated_in_text(tree: Any, date: str | None) -> str:
    """htmldate's wider search, less its last resort: a page's copyright line ("(c) 2025") read as
    1 January of that year says when the site was made, not when the story was published."""
    if not date:
        return ""
    year = date[:4]
    page = " ".join(tree.itertext())
    if date.endswith("-01-01") and re.search(
        rf"(?:\u00a9|\(c\)|copyright)[^0-9]{{0,40}}(?:\d{{4}}\s*[-\u2013]\s*)?{year}", page, re.I
    ):
        return ""
    return date


def _is_comment_block(element: object) -> bool:
    get = getattr(element, "get", None)
    if get is None:
        return False
    return bool(_COMMENT_BLOCK.search(f"{get('id') or ''} {get('class') or ''}"))


# -- PDF, DOCX, EPUB -------------------------------------------------------------------------


def read_document(path: Path) -> Article:
    """A .pdf, .docx or .epub file through LlamaIndex's `SimpleDirectoryReader`; hard-wrapped
    PDF and EPUB text reflowed into paragraphs; title, authors and date from the file's own
    metadata where present (else the first line is the title)."""
    kind = path.suffix.lower().lstrip(".").upper()
    try:
        with _root_logging_kept():
            import llama_index.readers.file  # noqa: F401 - the readers SimpleDirectoryReader picks by suffix
            from llama_index.core import SimpleDirectoryReader
    except ImportError:
        raise Unreadable(f"reading {kind} files needs the llamaindex extra: {_EXTRA}") from None
    try:
        extractors = {".pdf": _spaced_pdf_reader()} if kind == "PDF" else None
        with _quiet("pypdf"):
            docs = SimpleDirectoryReader(
                input_files=[path], file_extractor=extractors, raise_on_error=True
            ).load_data()
        meta = _METADATA[kind](path)
    except ImportError as e:
        raise Unreadable(f"reading {kind} files needs {e.name or 'a reader'}: {_EXTRA}") from None
    except Exception as e:  # any reader's fault, on any malformed file
        raise Unreadable(f"cannot read this {kind} file ({_reason(e)}); re-save or re-export it") from None
    raw = "\n".join(d.text for d in docs)
    if kind == "EPUB":
        body = _strip_markdown(reflow(raw))  # html2text wraps at 78 characters
    elif kind == "PDF":
        kept = "\n".join(line for line in raw.splitlines() if not _PAGE_NUMBER.fullmatch(line.strip()))
        body = reflow(kept, pdf_width, spare=0.06)
    else:  # DOCX: one line per paragraph already, blank lines between
        body = "\n".join(" ".join(line.split()) for line in raw.splitlines() if line.strip())
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        raise Unreadable(f"no text found in this {kind} file (a scanned document needs OCR first)")
    title = meta.get("title") or lines[0]
    authors = tuple(a for a in re.split(r"\s*[;,&]\s*|\s+and\s+", meta.get("author", "")) if a)
    return Article(
        article_id=path.stem,
        title=title,
        text="\n".join([title, *lines]),
        source=str(path),
        authors=authors,
        publish_date=_iso_date(meta.get("date", "")),
    )


def _reason(error: BaseException) -> str:
    """What went wrong at the bottom: SimpleDirectoryReader wraps a reader's error in its own
    "Error loading file", and the PDF reader's retries (tenacity) in a RetryError."""
    while True:
        last = getattr(error, "last_attempt", None)
        if last is not None and last.exception() is not None:
            error = last.exception()
        elif error.__cause__ is not None:
            error = error.__cause__
        else:
            break
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:160]}" if first else type(error).__name__


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A library's warnings about a malformed file stay out of the ingest output: the file is
    reported once, as skipped or read."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _spaced_pdf_reader() -> Any:
    """LlamaIndex's PDF reader, keeping what plain text extraction loses: the space a page leaves
    between paragraphs (a blank line where the gap between two lines is well over the line spacing)."""
    from llama_index.core.schema import Document
    from llama_index.readers.file import PDFReader

    class SpacedPDFReader(PDFReader):
        def load_data(  # type: ignore[override]  # the reader's load_data is wrapped by tenacity
            self, file: Path, extra_info: dict[str, Any] | None = None, fs: Any = None
        ) -> list[Any]:
            import pypdf

            pages = pypdf.PdfReader(file).pages
            return [
                Document(text=_spaced_text(page), metadata={"page_label": str(n), **(extra_info or {})})
                for n, page in enumerate(pages, start=1)
            ]

    return SpacedPDFReader()


def _spaced_text(page: Any) -> str:
    """A PDF page's text, one line per printed line, with a blank line at each wider gap."""
    lines: list[list[Any]] = [["", None]]  # [text, baseline y]

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: Any) -> None:
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]  # the text matrix in page space
        for k, part in enumerate(text.split("\n")):
            if k:
                lines.append(["", None])
            if part:
                lines[-1][0] += part
                if lines[-1][1] is None and part.strip():
                    lines[-1][1] = y

    page.extract_text(visitor_text=visit)
    placed = [(text, y) for text, y in lines if text.strip() and y is not None]
    gaps = [abs(a[1] - b[1]) for a, b in zip(placed, placed[1:], strict=False) if a[1] != b[1]]
    if not gaps:
        return "\n".join(text for text, _ in placed)
    pitch = sorted(gaps)[len(gaps) // 2]  # most lines follow a wrapped line: the median is the line spacing
    out = [placed[0][0]]
    for (_, y0), (text, y1) in zip(placed, placed[1:], strict=False):
        if abs(y1 - y0) > 1.3 * pitch:
            out.append("")
        out.append(text)
    return "\n".join(out)


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """Importing llama-index-readers-file calls `logging.basicConfig(level=INFO)` (its slides
    reader): undone, so an ingest does not start printing every library's INFO lines."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _pdf_metadata(path: Path) -> dict[str, str]:
    import pypdf

    info = pypdf.PdfReader(path).metadata
    if info is None:
        return {}
    try:
        created = info.creation_date
    except ValueError:  # a malformed date string is no date
        created = None
    return {
        "title": " ".join(str(info.title or "").split()),
        "author": " ".join(str(info.author or "").split()),
        "date": created.date().isoformat() if isinstance(created, dt.datetime) else "",
    }


_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"


def _docx_metadata(path: Path) -> dict[str, str]:
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as z:
        if "docProps/core.xml" not in z.namelist():
            return {}
        core = ElementTree.fromstring(z.read("docProps/core.xml"))
    return {
        "title": _xml_text(core, f"{_DC}title"),
        "author": _xml_text(core, f"{_DC}creator"),
        "date": _xml_text(core, f"{_DCTERMS}created"),
    }


def _epub_metadata(path: Path) -> dict[str, str]:
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as z:
        container = ElementTree.fromstring(z.read("META-INF/container.xml"))
        rootfile = next((e.get("full-path") for e in container.iter() if e.tag.endswith("rootfile")), None)
        if not rootfile:
            return {}
        opf = ElementTree.fromstring(z.read(rootfile))
    return {
        "title": _xml_text(opf, f"{_DC}title"),
        "author": _xml_text(opf, f"{_DC}creator"),
        "date": _xml_text(opf, f"{_DC}date"),
    }


def _xml_text(root: Element, tag: str) -> str:
    element = next(root.iter(tag), None)
    return " ".join((element.text or "").split()) if element is not None else ""


_METADATA = {"PDF": _pdf_metadata, "DOCX": _docx_metadata, "EPUB": _epub_metadata}


def _iso_date(value: str) -> str:
    m = re.match(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", value.strip())
    if not m:
        return ""
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return ""


# -- reflow ----------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(r"(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?", re.I)
_BULLET = re.compile(r"[*+\u2022]\s")
_NUMBERED = re.compile(
    r"(?:-|\d{1,3}\\?[.)])\s"
)  # a list only after a closed line: "December" + "28. The" is none
_CLOSING = (".", "!", "?", ":", ";", '"', "\u201d", "\u2019", "'", ")")

# Advance widths of Helvetica (1/1000 em, its AFM): a PDF line's width in a proportional font is
# estimated far better by them than by its count of characters (seed 003 set in DejaVu Sans:
# wrapped lines measure 0.996-1.13 of the text width, paragraph ends at most 0.94; by counting
# characters the two overlap).
_LOWER = (
    "556 556 500 556 556 278 556 556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 500 500 500"
)
_UPPER = (
    "667 667 722 722 667 611 778 722 278 500 667 556 833 722 778 667 778 722 667 611 722 667 944 667 667 611"
)
_ADVANCE = {
    **{ch: int(w) for ch, w in zip(string.ascii_letters, f"{_LOWER} {_UPPER}".split(), strict=True)},
    **dict.fromkeys(" .,:;!/", 278),
    **dict.fromkeys("'\u2018\u2019", 222),
    **dict.fromkeys('"-()\u201c\u201d', 333),
    **{"%": 889, "&": 667, "\u2014": 1000},
}  # anything else (digits, accented letters, other scripts): 556


def pdf_width(line: str) -> float:
    """A line's width in a proportional font, estimated with Helvetica's advance widths."""
    return float(sum(_ADVANCE.get(ch, 556) for ch in line))


def reflow(text: str, measure: Callable[[str], float] = len, spare: float = 0.03) -> str:
    """Hard-wrapped text (PDF and EPUB extractions: a newline at the end of every line, the same
    as between paragraphs) as one line per paragraph.

    A newline ends a paragraph when the next line's first word would have fitted on the line (a
    wrapping program would have put it there; `measure` gives a line's width, `spare` the margin
    of error as a share of the text width) or when the next line opens a list item; blank lines
    always do. Text without blank lines between paragraphs also breaks before a heading (a short
    line with no closing punctuation after a line that closes a sentence). Otherwise the lines are
    one paragraph: a doubtful line is joined, never cut, so no sentence breaks at a line end. Text
    that is not wrapped (few lines near the longest) keeps its newlines as paragraph breaks.
    """
    lines = [" ".join(line.split()) for line in text.splitlines()]
    spaced = any(not a and b and c for a, b, c in zip(lines[1:], lines[2:], lines, strict=False))
    width = _wrap_width([measure(line) for line in lines if line], spare, measure("n" * 30))
    room = (1 - spare) * width
    paragraphs: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        cut = bool(current) and _is_cut_word(lines[i - 1], line)
        current = f"{current}{'' if cut else ' '}{line}" if current else line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not following or not width:
            ends = True
        elif _is_cut_word(line, following):
            ends = False
        else:
            ends = _ends_paragraph(line, following, lines[i + 2 : i + 3], room, measure, not spaced)
        if ends:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n".join(_join_hyphens(p) for p in paragraphs)


def _wrap_width(widths: list[float], spare: float, narrowest: float) -> float:
    """The width the text is wrapped at, or 0 when it is not wrapped: too few full lines, or
    lines too short (under `narrowest`) for any column of prose."""
    if len(widths) < 4:
        return 0.0
    ordered = sorted(widths)
    width = ordered[int(0.95 * (len(ordered) - 1))]
    full = sum(w >= (1 - 2 * spare) * width for w in ordered)
    return width if full >= 0.4 * len(ordered) and width >= narrowest else 0.0


def _fits(line: str, following: str, room: float, measure: Callable[[str], float]) -> bool:
    """The first word of `following` would have fitted at the end of `line`."""
    return measure(f"{line} {following.split()[0]}") <= room


def _ends_paragraph(
    line: str,
    following: str,
    after: list[str],
    room: float,
    measure: Callable[[str], float],
    headings: bool,
) -> bool:
    closed = line.endswith(_CLOSING)
    if _BULLET.match(following) or (closed and _NUMBERED.match(following)):
        return True
    if _fits(line, following, room, measure):
        return True  # the next word would have fitted: the line ended on purpose
    if closed and _URL.match(following):
        return True  # a URL too long for any line starts a line of its own
    if not headings:
        return False
    # A heading (a short line with no closing punctuation, which ends where it ends) after a
    # full line that closes a sentence is a paragraph of its own.
    heading_ends = not after or not after[0] or _fits(following, after[0], room, measure)
    return closed and heading_ends and _is_heading_line(following)


def _is_cut_word(line: str, following: str) -> bool:
    """A word too long for a line (a URL) that the wrapper cut: one token on both lines."""
    return " " not in line and " " not in following and len(line) >= 30


_URL = re.compile(r"(?:https?://|www\.)\S")


def _is_heading_line(line: str) -> bool:
    return len(line.split()) <= 10 and not line.endswith((*_CLOSING, ","))


def _join_hyphens(paragraph: str) -> str:
    # "post- Soviet" from a line that broke after a hyphen: the hyphen stays, the space goes.
    return re.sub(r"(?<=\w)- (?=[a-z])", "-", paragraph)


_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)_|\*)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])")
_MD_PREFIX = re.compile(r"^(?:#{1,6}\s+|>\s*|[*+-]\s+(?=\S))")


def _strip_markdown(text: str) -> str:
    """The plain text of html2text's Markdown (what LlamaIndex's EPUB reader returns)."""
    out = []
    for line in text.splitlines():
        if re.fullmatch(r"(?:\* ?){3,}|(?:- ?){3,}|(?:_ ?){3,}", line.strip()):
            continue  # a horizontal rule
        line = _MD_PREFIX.sub("", line.strip())
        line = _MD_IMAGE.sub("", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        out.append(" ".join(_MD_ESCAPE.sub(r"\1", line).split()))
    return "\n".join(line for line in out if line)

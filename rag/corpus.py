"""Reading articles (.txt, .md, .jsonl, .html, .pdf, .docx, .epub) and splitting them into paragraphs with stable IDs."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz

from rag.errors import CorpusError
from rag.formats import DOCUMENT_SUFFIXES, HTML_SUFFIXES, Unreadable, read_document, read_html
from rag.schema import Article, Paragraph
from rag.terms import STOPWORDS, content_terms, fold, stem, words

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | DOCUMENT_SUFFIXES

# Page furniture, not content: a line is furniture when the whole of it matches one alternative.
_BOILERPLATE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"(section|supporting|featured|header|lead|main) image\.?",
            r"image( credit)?:.*",
            r"(photo|image|picture)s?( credit)?\s*[:/-].*",
            r"leave a (reply|comment)\.?",
            r"your email address will not be published.*",
            r"comments? (are|is) closed\.?",
            r"(share|tweet|email|print)( this( article| story)?)?( on \w+)?\.?",
            r"(click here|subscribe|sign up|advertisement|read more|related:|follow us).{0,80}",
            r"disclaimer:.*",
            r"(source:|edited by|written by|reporting by|additional reporting by|editing by)\s.{0,60}",
            r"(https?://|www\.)\S+",
            # Image file slugs used as captions/credits: "Miami-Ukraine-peace-talks".
            r"[\w\u00c0-\u024f]+(?:[-_][\w\u00c0-\u024f]+){2,}(\.(jpe?g|png|webp|gif))?",
        )
    ),
    re.IGNORECASE,
)

# Boilerplate across articles (`find_boilerplate`): a paragraph text in at least this many stories,
# or in this share of the articles when that is more. In news-2024q1 (2,443 articles) content
# recurs in at most 4 articles, 3 stories (award nominees listed by articles on the same awards:
# 0.16 % of the articles); from 5 stories up (0.2 %) it is newsletter promos (up to 194), bylines,
# contact lines, datelines and section headings, bar one explainer pasted into 5 election stories.
# 1 in 500 articles keeps that proportion in a larger corpus (10,000 articles: 20 stories); the
# floor of 5 binds below 2,500 articles, where a share would let 2 or 3 stories make boilerplate.
BOILERPLATE_MIN_STORIES = 5
BOILERPLATE_SHARE = 1 / 500
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_NOT_ALNUM = bytes(b for b in range(128) if not chr(b).isalnum()) + bytes(range(128, 256))
_ALNUM = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SkippedFile:
    """A file (or one line of a .jsonl file) that was not ingested, and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


@dataclass
class CorpusLoad:
    """The articles read from a corpus and the files that had to be skipped."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    files: int = 0


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every supported file under `paths`, in a stable order; raises if a path does not exist."""
    for path in paths:
        if not path.exists():
            raise CorpusError(
                f"corpus path '{path}' does not exist; pass a folder or file of articles "
                "(e.g. `rag ingest seeds`) or set RAG_CORPUS"
            )
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(p.startswith(".") for p in child.relative_to(path).parts):
                    yield child
        else:
            yield path


def load_articles(paths: Iterable[Path]) -> CorpusLoad:
    """Read every article under `paths`. Unreadable files are reported in `skipped`, never raised."""
    result = CorpusLoad()
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    for path in iter_files(paths):
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            result.skipped.append(SkippedFile(str(path), f"unsupported file type '{suffix or path.name}'"))
            continue
        result.files += 1
        try:
            if suffix in DOCUMENT_SUFFIXES:
                articles = [read_document(path)]
            elif suffix in HTML_SUFFIXES:
                articles = [read_html(path, _read_bytes(path))]
            elif suffix in JSONL_SUFFIXES:
                articles = list(_jsonl_articles(path, _read_text(path), result.skipped))
            else:
                articles = [_text_article(path, _read_text(path))]
        except Unreadable as e:
            result.skipped.append(SkippedFile(str(path), str(e)))
            continue
        for art in articles:
            if not art.text.strip():
                result.skipped.append(SkippedFile(art.source, "article has no text"))
                continue
            if art.article_id in seen_ids:
                result.skipped.append(
                    SkippedFile(
                        art.source,
                        f"article id '{art.article_id}' also used by {seen_ids[art.article_id]}; rename one",
                    )
                )
                continue
            digest = hashlib.sha1(_normalise(art.text).encode()).hexdigest()
            if digest in seen_text:
                result.skipped.append(
                    SkippedFile(art.source, f"duplicate of {seen_text[digest]}; stored once")
                )
                continue
            seen_ids[art.article_id] = art.source
            seen_text[digest] = art.source
            result.articles.append(art)
    return result


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Unreadable(f"cannot read file ({e.strerror})") from None
    if not data.strip():
        raise Unreadable("empty file")
    return data


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unreadable("binary file, not text")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Unreadable(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); re-save it as UTF-8"
        ) from None


def _text_article(path: Path, text: str) -> Article:
    first = next((line for line in text.splitlines() if line.strip()), "")
    title = first.strip().lstrip("#").strip()
    return Article(article_id=path.stem, title=title, text=text, source=str(path))


def _jsonl_articles(path: Path, text: str, skipped: list[SkippedFile]) -> Iterator[Article]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            body = obj.get("text")
            if not isinstance(body, str) or not body.strip():
                raise ValueError("no 'text' field")
        except ValueError as e:
            skipped.append(SkippedFile(str(path), f"malformed line ({e}); fix or remove it", lineno))
            continue
        title = str(obj.get("title") or "").strip() or body.strip().splitlines()[0][:120]
        url = str(obj.get("url") or "")
        article_id = (
            str(obj.get("id") or "").strip()
            or hashlib.sha1((url or title + body[:500]).encode()).hexdigest()[:12]
        )
        authors = obj.get("authors") or []
        if isinstance(authors, str):
            authors = [authors]
        yield Article(
            article_id=article_id,
            title=title,
            text=body,
            source=f"{path}:{lineno}",
            url=url,
            authors=tuple(str(a) for a in authors),
            publish_date=_iso_date(str(obj.get("publish_date") or "")),
        )


def _iso_date(value: str) -> str:
    m = re.match(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", value.strip())
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else ""


def _normalise(text: str) -> str:
    return " ".join(fold(text).casefold().split())


def _is_repeat(key: str, seen: dict[int, list[str]]) -> bool:
    """Same text as an earlier paragraph, or nearly (a stray character or two at the end).
    `seen` holds the earlier ones by length: only those within 2 % of the length can match."""
    n = len(key)
    if key in seen.get(n, ()):
        return True
    # Near repeats are 80 characters or longer, and |n - m| <= 2 % of the longer one puts the
    # other's length m in [0.98 n, n / 0.98].
    for m in range(math.floor(n * 0.98), math.ceil(n / 0.98) + 1):
        longer = max(n, m)
        if longer < 80 or abs(n - m) > longer * 0.02:
            continue
        others = seen.get(m)
        if others and any(fuzz.ratio(key, other) >= 98 for other in others):
            return True
    return False


def _is_title_repeat(tokens: list[str], title_terms: set[str]) -> bool:
    """A short line whose every content word is in the title: the headline printed again."""
    content = [w for w in tokens if w not in STOPWORDS]
    return 0 < len(content) <= 15 and all(stem(w) in title_terms for w in content)


def is_boilerplate(line: str) -> bool:
    """True for page furniture: image captions and credits, comment boxes, share lines, bare URLs."""
    stripped = line.strip()
    return _BOILERPLATE.fullmatch(stripped) is not None


def split_paragraphs(article: Article, min_words: int = 3) -> list[Paragraph]:
    """Split on blank lines and single newlines; drop boilerplate, the title line and repeats."""
    paragraphs: list[Paragraph] = []
    title_terms = set(content_terms(article.title))
    title = _normalise(article.title)
    seen: dict[int, list[str]] = {len(title): [title]}  # earlier paragraphs, by length
    offset = 0
    for line in article.text.splitlines(keepends=True):
        start = offset
        offset += len(line)
        body = line.strip()
        if not body:
            continue
        key = _normalise(body)
        tokens = words(body)
        if (
            is_boilerplate(body)
            or len(tokens) < min_words
            or _is_title_repeat(tokens, title_terms)
            or _is_repeat(key, seen)
        ):
            continue
        seen.setdefault(len(key), []).append(key)
        lead = len(line) - len(line.lstrip())
        n = len(paragraphs) + 1
        paragraphs.append(
            Paragraph(
                paragraph_id=f"{article.article_id}#p{n}",
                article_id=article.article_id,
                n=n,
                text=body,
                char_start=start + lead,
                char_end=start + lead + len(body),
            )
        )
    return paragraphs


def boilerplate_threshold(articles: int) -> int:
    """The number of stories a paragraph text must recur in to count as boilerplate."""
    return max(BOILERPLATE_MIN_STORIES, math.ceil(articles * BOILERPLATE_SHARE))


def find_boilerplate(corpus: Sequence[tuple[Article, Sequence[Paragraph]]]) -> set[str]:
    """The ids of paragraphs not to index: text repeated across unrelated articles.

    A paragraph is boilerplate when its text (case, punctuation and spacing ignored) occurs in at
    least `boilerplate_threshold(len(corpus))` distinct stories, where articles that are copies of
    one another (each shares more than half of its paragraph texts with the other: the same
    wire story in two outlets) count as one story. Newsletter promos, bylines and contact lines
    recur in many unrelated stories; a syndicated story's paragraphs, however many copies, in one.
    Every other paragraph keeps its id and number.
    """
    keys = [[_text_key(p.text) for p in paragraphs] for _, paragraphs in corpus]
    distinct = [set(k) for k in keys]
    counts: Counter[bytes] = Counter()
    for texts in distinct:
        counts.update(texts)
    threshold = boilerplate_threshold(len(corpus))
    frequent = {key for key, n in counts.items() if n >= threshold}
    if not frequent:
        return set()
    story = _stories(distinct, counts)
    holders: dict[bytes, list[int]] = {key: [] for key in frequent}
    for i, texts in enumerate(distinct):
        for key in texts & frequent:
            holders[key].append(i)
    boilerplate = {key for key, articles in holders.items() if len({story[i] for i in articles}) >= threshold}
    return {
        p.paragraph_id
        for i, (_, paragraphs) in enumerate(corpus)
        if not distinct[i].isdisjoint(boilerplate)
        for p, key in zip(paragraphs, keys[i], strict=True)
        if key in boilerplate
    }


def _text_key(text: str) -> bytes:
    """A paragraph's text with case, punctuation and spacing removed: its letters and digits."""
    if text.isascii():  # two thirds of news lines; bytes.translate is 3 times faster than a regex
        return text.encode().translate(_ASCII_LOWER, _NOT_ALNUM)
    folded = fold(text)
    if folded.isascii():
        return folded.encode().translate(_ASCII_LOWER, _NOT_ALNUM)
    return "".join(_ALNUM.findall(folded.casefold())).encode()


def _stories(texts: list[set[bytes]], counts: Counter[bytes]) -> list[int]:
    """A story number per article: copies (each shares more than half of its texts with the
    other) and copies of copies share one.

    Only pairs that can be copies are compared (a prefix filter): order all texts by how many
    articles hold them (rarest first). Two copies share more than half of each one's texts, so
    the rarest text they share is among the first half of each one's texts in that order."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_prefix: dict[bytes, list[int]] = {}
    for i, mine in enumerate(texts):
        repeated = [key for key in mine if counts[key] > 1]
        # Texts of this article alone come first in the order; the rest of the first half is repeated ones.
        room = (len(mine) + 1) // 2 - (len(mine) - len(repeated))
        if room <= 0:
            continue  # at most half its texts are elsewhere: a copy of nothing
        repeated.sort(key=lambda key: (counts[key], key))
        for key in repeated[:room]:
            by_prefix.setdefault(key, []).append(i)
    compared: set[tuple[int, int]] = set()
    for articles in by_prefix.values():
        for x, a in enumerate(articles):
            for b in articles[x + 1 :]:
                if (a, b) in compared:
                    continue
                compared.add((a, b))
                shared = len(texts[a] & texts[b])
                if 2 * shared > len(texts[a]) and 2 * shared > len(texts[b]):
                    parent[root(a)] = root(b)
    return [root(i) for i in range(len(texts))]

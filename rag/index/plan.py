"""Sync planning: the rows a corpus needs, which of them an ingest writes, reuses and drops."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rag.schema import Article, Paragraph, SyncReport

Wanted = dict[str, tuple[Article, Paragraph]]  # row id -> what the row holds


def row_id(article: Article, paragraph: Paragraph) -> str:
    """`<paragraph_id>:<text hash>-<metadata hash>`: what is stored for a paragraph, as a key.

    The text hash decides whether a paragraph must be embedded; a row whose metadata alone
    changed (offsets, title, url) is rewritten with its old vectors, never re-embedded.
    """
    text = hashlib.sha1(paragraph.text.encode()).hexdigest()[:16]
    meta = hashlib.sha1()
    for part in (article.title, article.url, article.publish_date, article.source):
        meta.update(part.encode() + b"\x00")
    meta.update(f"{paragraph.n}:{paragraph.char_start}:{paragraph.char_end}".encode())
    return f"{paragraph.paragraph_id}:{text}-{meta.hexdigest()[:8]}"


def split_row_id(rid: str) -> tuple[str, str]:
    """(paragraph_id, text hash) of a row id."""
    pid, rest = rid.rsplit(":", 1)
    return pid, rest.split("-", 1)[0]


@dataclass
class Plan:
    """What one sync writes and drops, and its report (the caller adds what was embedded, and the time)."""

    wanted: Wanted  # every row the index is to hold
    todo: list[str]  # the rows to write, longest text first
    known_text: dict[str, str]  # text hash -> a stored row with that text, whose vectors are reused
    fresh: int  # distinct texts no stored row has: what is embedded
    stale: list[str]  # stored rows no longer wanted
    report: SyncReport


def plan_sync(
    corpus: Sequence[tuple[Article, Sequence[Paragraph]]], existing: set[str], side: Collection[str] = ()
) -> Plan:
    """Plan making an index that holds the rows `existing` hold exactly `corpus`. `side`: rows the
    paragraph file holds, some perhaps not in Chroma (a kill fell between the two writes of a step):
    their vectors are reused, so nothing an interrupted ingest embedded is embedded again."""
    report = SyncReport(articles=len(corpus))
    wanted: Wanted = {}
    for article, paragraphs in corpus:
        for p in paragraphs:
            wanted[row_id(article, p)] = (article, p)
    report.paragraphs = len(wanted)
    old_text = dict(split_row_id(r) for r in existing)
    known_text = {split_row_id(r)[1]: r for r in side}
    known_text.update({split_row_id(r)[1]: r for r in existing})  # a row Chroma holds too, first
    todo = [rid for rid in wanted if rid not in existing]
    fresh: set[str] = set()  # hashes of the texts no stored row has: what is embedded
    for rid in wanted:
        pid, text_hash = split_row_id(rid)
        if text_hash not in known_text:
            fresh.add(text_hash)
        if pid not in old_text:
            report.added += 1
        elif old_text[pid] != text_hash:
            report.updated += 1
        else:
            report.unchanged += 1
    # Longest first, so steps hold similar lengths and the rate only improves.
    todo.sort(key=lambda r: -len(wanted[r][1].text))
    stale = [rid for rid in existing if rid not in wanted]
    live = {p.paragraph_id for _, p in wanted.values()}
    report.removed = len({split_row_id(r)[0] for r in stale} - live)
    return Plan(wanted, todo, known_text, len(fresh), stale, report)

"""Ingestion into a real Chroma store: incremental, idempotent, edits, deletes, crash-safe state."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.embedding import OnnxEncoder, ensure_onnx_model
from rag.errors import IndexBusyError, IndexIncompleteError, IndexMissingError
from rag.index import ParagraphIndex, plan, writing
from rag.index.rowstore import RowStore

ROOT = Path(__file__).resolve().parents[1]


class RecordingEncoder(OnnxEncoder):
    """The real encoder, remembering every paragraph it was asked to embed."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(ensure_onnx_model(model_dir), "local:all-MiniLM-L6-v2:fp32")
        self.embedded: list[str] = []

    def encode_paragraphs(self, texts, sentence_spans, progress=None):  # type: ignore[no-untyped-def]
        self.embedded.extend(texts)
        return super().encode_paragraphs(texts, sentence_spans, progress)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    shutil.copytree(ROOT / "seeds", d)
    return d


@pytest.fixture
def engine(corpus: Path, tmp_path: Path, model_dir: Path) -> rag.Engine:
    e = rag.open(corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir)
    e._encoder = RecordingEncoder(model_dir)
    return e


def test_ingest_then_reingest_embeds_nothing(engine: rag.Engine) -> None:
    first = engine.ingest(progress=False)
    assert (first.added, first.unchanged, first.removed) == (first.paragraphs, 0, 0)
    assert first.paragraphs == 79 and first.articles == 5
    embedded = len(engine.encoder.embedded)  # type: ignore[attr-defined]
    assert embedded == 79
    second = engine.ingest(progress=False)
    assert (second.added, second.updated, second.unchanged, second.removed) == (0, 0, 79, 0)
    assert len(engine.encoder.embedded) == embedded  # type: ignore[attr-defined]
    assert engine._index.count() == 79 and engine._index.bm25_count() == 79
    assert "0 added" in second.summary()


def test_text_repeated_across_write_batches_is_embedded_once(
    engine: rag.Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same dispatch under three names: its paragraphs land in different write batches,
    # and a later batch reuses the vectors an earlier one stored.
    wire = (corpus / "001_15444799d16b97f2.txt").read_text(encoding="utf-8")
    for name in ("wire-a", "wire-b"):
        (corpus / f"{name}.txt").write_text(wire.replace("\n", "\n\n", 1) + "\nFiled by " + name + ".\n")
    monkeypatch.setattr("rag.index.writing.WRITE_BATCH", 7)
    report = engine.ingest(progress=False)
    texts = engine.encoder.embedded  # type: ignore[attr-defined]
    assert len(texts) == len(set(texts)) == report.embedded < report.paragraphs
    assert engine._index.count() == report.paragraphs == engine._index.bm25_count()
    rows = engine._index.rows.get(sorted(engine._index.rows.ids()))
    chroma = engine._index._store().get(ids=sorted(rows), include=["embeddings"])
    in_chroma = dict(zip(chroma["ids"], chroma["embeddings"], strict=True))
    by_text: dict[str, list[object]] = {}
    for rid, (_, text, vec, _) in rows.items():
        assert np.allclose(np.frombuffer(vec, dtype=np.float32), in_chroma[rid], atol=1e-6)
        by_text.setdefault(text, []).append(in_chroma[rid])
    repeated = [v for v in by_text.values() if len(v) == 3]
    assert len(repeated) >= 10
    assert all(np.allclose(v[0], v[1], atol=1e-6) and np.allclose(v[0], v[2], atol=1e-6) for v in repeated)


def test_edited_article_reembeds_only_changed_paragraphs(engine: rag.Engine, corpus: Path) -> None:
    engine.ingest(progress=False)
    path = corpus / "003_b83f3884dc9034e7.txt"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("nearly five hours", "nearly six hours"), encoding="utf-8")
    before = len(engine.encoder.embedded)  # type: ignore[attr-defined]
    report = engine.ingest(progress=False)
    new = engine.encoder.embedded[before:]  # type: ignore[attr-defined]
    assert (report.added, report.updated, report.removed, report.embedded) == (0, 1, 0, 1)
    assert (
        len(new) == 1 and "nearly six hours" in new[0]
    )  # later offsets moved: rows rewritten, not re-embedded
    assert engine._index.count() == 79  # the old version of the paragraph is gone
    top = engine.retrieve("How long did the Kremlin meeting last?", k=3)
    assert any("six hours" in p.text for p in top)
    assert not any("five hours" in p.text and p.article_id.startswith("003") for p in top)


def test_deleted_article_is_removed(engine: rag.Engine, corpus: Path) -> None:
    engine.ingest(progress=False)
    (corpus / "002_33a30cdbeddf286c.txt").unlink()
    report = engine.ingest(progress=False)
    assert report.removed == 21 and report.articles == 4
    assert engine._index.count() == 58 and engine._index.bm25_count() == 58
    hits = engine.retrieve("Kiril Dimitriev Harvard Goldman Sachs", k=10)
    assert all(not p.article_id.startswith("002") for p in hits)


def test_bad_file_is_skipped_and_rest_ingested(engine: rag.Engine, corpus: Path) -> None:
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\x00\x00garbage\x00\x01")
    (corpus / "latin.txt").write_bytes("Titre\nCaf\xe9 au lait".encode("latin-1"))
    report = engine.ingest(progress=False)
    assert report.articles == 5 and report.paragraphs == 79
    assert any("latin.txt" in s and "UTF-8" in s for s in report.skipped_files)
    assert len(report.skipped_files) == 2


def test_missing_index_is_a_clear_error(tmp_path: Path, model_dir: Path) -> None:
    e = rag.open(corpus=ROOT / "seeds", index_dir=tmp_path / "empty", model_dir=model_dir)
    with pytest.raises(IndexMissingError, match="rag ingest"):
        e.ask("Who co-owns the Faena hotel?")


def test_interrupted_ingest_is_reported_then_repaired(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.ingest(progress=False)
    calls = {"n": 0}

    def crash_after_first_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    # Force a full re-embed under a new fingerprint so there is more than one batch to write.
    other = rag.open(
        corpus=engine.settings.corpus,
        index_dir=engine.settings.index_dir,
        model_dir=engine.settings.model_dir,
        min_paragraph_words=2,
    )
    # The crash comes while the second batch is encoded and the first is being written: that
    # write completes before the error leaves ingest.
    real = writing.build_rows
    with monkeypatch.context() as patch:
        patch.setattr(writing, "build_rows", crash_after_first_batch)
        patch.setattr(writing, "WRITE_BATCH", 20)
        with pytest.raises(KeyboardInterrupt):
            other.ingest(progress=False)
    fresh = rag.open(
        corpus=engine.settings.corpus,
        index_dir=engine.settings.index_dir,
        model_dir=engine.settings.model_dir,
        min_paragraph_words=2,
    )
    with pytest.raises((IndexIncompleteError, IndexMissingError), match="rag ingest"):
        fresh.ask("Who co-owns the Faena hotel?")
    report = fresh.ingest(progress=False)
    assert report.unchanged == 20  # the batch written before the crash is kept, not re-embedded
    assert fresh._index.count() == report.paragraphs == fresh._index.bm25_count()
    assert not fresh.ask("Who co-owns the Faena hotel?").abstained
    # The original index (other fingerprint) was never disturbed.
    assert engine._index.status().complete  # type: ignore[union-attr]


def test_a_kill_between_the_paragraph_file_and_chroma_embeds_nothing_again(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A step writes its side rows, then Chroma's: killed between the two, the side rows hold the
    # step's vectors, and the resumed ingest reuses them instead of running the encoder again.
    calls = {"n": 0}
    real = ParagraphIndex._store_rows

    def killed_before_chroma(self, batch, rows):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            self.rows.put(rows.side)
            raise KeyboardInterrupt("killed between the two writes")
        return real(self, batch, rows)

    with monkeypatch.context() as patch:
        patch.setattr(ParagraphIndex, "_store_rows", killed_before_chroma)
        patch.setattr(writing, "WRITE_BATCH", 20)
        with pytest.raises(KeyboardInterrupt):
            engine.ingest(progress=False)
    assert len(engine._index._chroma.ids()) == 20 and len(engine._index.rows.ids()) == 40
    before = len(engine.encoder.embedded)  # type: ignore[attr-defined]
    report = engine.ingest(progress=False)
    assert report.embedded == len(engine.encoder.embedded) - before == 79 - 40  # type: ignore[attr-defined]
    assert engine._index.count() == report.paragraphs == engine._index.bm25_count() == 79
    assert not engine.ask("Who co-owns the Faena hotel?").abstained


def test_a_write_failing_on_the_writer_thread_stops_ingest_and_is_repaired(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches are written on a writer thread while the next is encoded: a failed write must stop
    # the ingest with its own error, keep what was written before it, and leave the index
    # incomplete until the next ingest.
    monkeypatch.setattr(writing, "WRITE_BATCH", 20)
    other = rag.open(
        corpus=engine.settings.corpus,
        index_dir=engine.settings.index_dir,
        model_dir=engine.settings.model_dir,
        min_paragraph_words=2,
    )
    real_write, real_embed = other._index._store_rows, writing.build_rows
    calls = {"writes": 0, "batches": 0}

    def count_batches(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["batches"] += 1
        return real_embed(*args, **kwargs)

    def fail_second_write(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["writes"] += 1
        if calls["writes"] == 2:
            raise RuntimeError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(writing, "build_rows", count_batches)
    other._index._store_rows = fail_second_write  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        other.ingest(progress=False)
    assert calls["batches"] == 3  # it stopped at the next batch, not at the end of the corpus
    assert not other._index.status().complete  # type: ignore[union-attr]
    report = other.ingest(progress=False)
    assert report.unchanged == 20  # the first batch was written before the failure
    assert other._index.count() == report.paragraphs == other._index.bm25_count()


def test_chroma_holds_vectors_and_filter_fields_and_the_text_lives_beside_it(engine: rag.Engine) -> None:
    engine.ingest(progress=False)
    got = engine._index._store().get(include=["documents", "metadatas"])
    assert len(got["ids"]) == 79
    assert all(doc is None for doc in got["documents"])  # no text: Chroma builds no full-text index
    assert all(set(meta) == {"article_id", "date"} for meta in got["metadatas"])
    assert engine._index.rows.ids() == set(got["ids"])
    answer = engine.ask("Who co-owns the Faena hotel?", llm=False)
    assert "Blavatnik" in answer.text and all(c.text for c in answer.citations)


def test_new_collections_get_our_hnsw_settings_and_older_ones_keep_theirs(
    engine: rag.Engine, corpus: Path, tmp_path: Path, model_dir: Path
) -> None:
    engine.ingest(progress=False)
    hnsw = engine._index._store().configuration["hnsw"]
    assert (hnsw["ef_construction"], hnsw["ef_search"]) == (50, 200)
    # An index made before (Chroma's defaults) opens, syncs and answers without a rebuild.
    older = rag.open(corpus=corpus, index_dir=tmp_path / "older", model_dir=model_dir)
    older._index._client().get_or_create_collection(
        older._index.collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    assert older.ingest(progress=False).added == 79
    assert older._index._store().configuration["hnsw"]["ef_construction"] == 100
    assert "Blavatnik" in older.ask("Who co-owns the Faena hotel?", llm=False).text


def test_a_lost_paragraph_file_is_reported_then_restored(engine: rag.Engine) -> None:
    engine.ingest(progress=False)
    engine._index.rows.close()
    for f in engine._index.rows.path.parent.glob(engine._index.rows.path.name + "*"):
        f.unlink()
    fresh = rag.open(
        corpus=engine.settings.corpus,
        index_dir=engine.settings.index_dir,
        model_dir=engine.settings.model_dir,
    )
    with pytest.raises(IndexIncompleteError, match="rag ingest"):
        fresh.ask("Who co-owns the Faena hotel?")
    report = fresh.ingest(progress=False)
    assert report.paragraphs == 79 and fresh._index.count() == 79 == len(fresh._index.rows.ids())
    assert "Blavatnik" in fresh.ask("Who co-owns the Faena hotel?", llm=False).text


def test_second_writer_is_refused(engine: rag.Engine) -> None:
    engine.ingest(progress=False)
    with engine._index._writer_lock():
        assert engine._index.writer_active()
        with pytest.raises(IndexBusyError, match="wait for it to finish"):
            engine.ingest(progress=False)
        # Readers keep answering while a writer holds the lock.
        assert engine.retrieve("Who co-owns the Faena hotel?", k=1)


def test_a_writer_finishing_while_a_reader_opens_is_not_taken_for_a_crash(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.ingest(progress=False)
    index = engine._index
    committed = index._read_state()
    index._write_state(**{**committed, "complete": False})  # a writer is mid-ingest ...
    index._keywords.unload()

    def writer_commits_then_lets_go() -> bool:
        index._write_state(**committed)  # ... and commits just before the reader asks for the lock
        return False

    monkeypatch.setattr(index, "writer_active", writer_commits_then_lets_go)
    assert index.bm25_count() == 79
    # A state still incomplete with no writer is what a crash leaves: that is reported.
    index._write_state(**{**committed, "complete": False})
    index._keywords.unload()
    monkeypatch.setattr(index, "writer_active", lambda: False)
    with pytest.raises(IndexIncompleteError, match="was interrupted; run `rag ingest`"):
        index.bm25_count()


def test_a_snapshot_swapped_in_while_a_reader_loads_it_is_read_again(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    engine.ingest(progress=False)
    index = engine._index
    ids = index._bm25_dir / "ids.json"
    real = index._load_snapshot
    calls: list[str] = []

    def load_while_a_writer_commits() -> None:
        calls.append("load")
        if len(calls) == 1:  # a writer renames its new snapshot in half-way through this read
            tmp = ids.with_suffix(".new")
            tmp.write_text(ids.read_text())
            os.replace(tmp, ids)
            raise ValueError("half of the files were the old snapshot's")
        real()

    index._keywords.unload()
    monkeypatch.setattr(index, "_load_snapshot", load_while_a_writer_commits)
    assert index.bm25_count() == 79
    assert calls == ["load", "load"] and index._snapshot == index._snapshot_stamp()

    # A snapshot that fails to load with no writer swapping it is damaged: that is not retried.
    def damaged() -> None:
        calls.append("damaged")
        raise ValueError("truncated file")

    index._keywords.unload()
    monkeypatch.setattr(index, "_load_snapshot", damaged)
    with pytest.raises(IndexIncompleteError, match=r"damaged \(truncated file\); run `rag ingest`"):
        index.bm25_count()
    assert calls.count("damaged") == 1
    monkeypatch.setattr(index, "_load_snapshot", real)
    (index._bm25_dir / "ids.json").write_text("{")  # really damaged: the rebuild repairs it
    assert engine.ingest(progress=False).paragraphs == 79
    assert index.bm25_count() == 79


def test_prune_deletes_the_indexes_of_other_settings_and_keeps_the_current_one(
    corpus: Path, tmp_path: Path, model_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    old = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir, min_paragraph_words=5)
    old.ingest(progress=False)
    current = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir)
    current.ingest(progress=False)
    assert old._index.fingerprint != current._index.fingerprint
    assert current.other_indexes() == [old._index.fingerprint]
    chroma = index_dir / "chroma"
    hnsw_dirs = {p.name for p in chroma.iterdir() if p.is_dir()}
    assert len(hnsw_dirs) == 2

    pruned, freed = current.prune_other_indexes()

    assert pruned == [old._index.fingerprint] and freed > 0
    assert current.other_indexes() == []
    assert not any(old._index.fingerprint in p.name for p in index_dir.iterdir())
    assert len({p.name for p in chroma.iterdir() if p.is_dir()}) == 1  # the old HNSW files are gone too
    answer = rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir).ask(
        "Who is Steve Witkoff?", llm=False
    )
    assert "Witkoff" in answer.text and answer.citations


def test_rag_status_points_at_prune_when_another_settings_index_is_left(
    corpus: Path,
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.cli import main

    index_dir = tmp_path / "index"
    rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir, min_paragraph_words=5).ingest(
        progress=False
    )
    rag.open(corpus=corpus, index_dir=index_dir, model_dir=model_dir).ingest(progress=False)
    assert main(["status", "--corpus", str(corpus), "--index", str(index_dir)]) == 0
    assert "`rag ingest --prune`" in capsys.readouterr().out
    monkeypatch.setenv("RAG_MODEL_DIR", str(model_dir))
    assert main(["ingest", "-q", "--prune", "--corpus", str(corpus), "--index", str(index_dir)]) == 0
    assert "pruned 1 index(es) of other settings" in capsys.readouterr().out
    assert main(["status", "--corpus", str(corpus), "--index", str(index_dir)]) == 0
    assert "other settings" not in capsys.readouterr().out


def test_the_encoder_process_gives_the_vectors_of_the_encoder_in_line(
    engine: rag.Engine, corpus: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five write steps: a plain ONNX encoder moves to a process of its own (Chroma's add holds the
    # GIL, which would stall it in line); the recording encoder cannot move and stays in line.
    monkeypatch.setattr(writing, "WRITE_BATCH", 16)
    started: list[int] = []

    class Counted(writing.EncodingProcess):  # type: ignore[misc]
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            started.append(self._proc.pid)

    monkeypatch.setattr(writing, "EncodingProcess", Counted)
    moved = rag.open(corpus=corpus, index_dir=tmp_path / "moved", model_dir=model_dir)
    moved._encoder = OnnxEncoder(ensure_onnx_model(model_dir), "local:all-MiniLM-L6-v2:fp32")
    report = moved.ingest(progress=False)
    assert len(started) == 1 and report.embedded == report.paragraphs == 79
    in_line = engine.ingest(progress=False)
    assert len(started) == 1 and in_line.embedded == len(engine.encoder.embedded) == 79  # type: ignore[attr-defined]
    a = moved._index.rows.get(sorted(moved._index.rows.ids()))
    b = engine._index.rows.get(sorted(engine._index.rows.ids()))
    assert a.keys() == b.keys() and len(a) == 79
    for rid, (meta, text, vec, svec) in a.items():
        assert (meta, text) == b[rid][:2]
        assert np.allclose(np.frombuffer(vec, np.float32), np.frombuffer(b[rid][2], np.float32), atol=1e-5)
        assert np.allclose(np.frombuffer(svec, np.float16), np.frombuffer(b[rid][3], np.float16), atol=2e-3)
    chroma = moved._index._store().get(ids=sorted(a), include=["embeddings"])
    for rid, emb in zip(chroma["ids"], chroma["embeddings"], strict=True):
        assert np.allclose(emb, np.frombuffer(a[rid][2], np.float32), atol=1e-6)
    question = "Who co-owns the Faena hotel?"
    assert moved.ask(question, llm=False).text == engine.ask(question, llm=False).text


def test_a_failing_encoder_process_is_one_clear_error_and_the_next_ingest_repairs(
    corpus: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from rag.errors import EmbeddingError

    monkeypatch.setattr(writing, "WRITE_BATCH", 16)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    real_spec = writing.movable_spec
    monkeypatch.setattr(writing, "movable_spec", lambda enc: {**real_spec(enc), "onnx_path": str(broken)})
    engine = rag.open(corpus=corpus, index_dir=tmp_path / "index", model_dir=model_dir)
    with pytest.raises(EmbeddingError) as err:
        engine.ingest(progress=False)
    message = str(err.value)
    assert "\n" not in message and "encoder process failed at step 0" in message and "broken.onnx" in message
    assert not engine._index.status().complete  # type: ignore[union-attr]
    assert not list((tmp_path / "tmp").iterdir())  # its files are gone with it
    assert not list((tmp_path / "index").glob(".bm25-*"))  # and the BM25 build of the failed ingest
    monkeypatch.setattr(writing, "movable_spec", real_spec)
    report = engine.ingest(progress=False)
    assert report.paragraphs == engine._index.count() == engine._index.bm25_count() == 79
    assert engine.status().complete  # type: ignore[union-attr]


def test_an_interrupted_ingest_stops_splitting_bm25_terms_and_leaves_no_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The BM25 snapshot is built on a thread during the encoding; an ingest that stops early (a
    # failed step, Ctrl-C) must not wait for every text to be split into terms.
    import threading
    from concurrent.futures import CancelledError

    from rag.index.keywords import KeywordSnapshot
    from rag.schema import Article, Paragraph

    article = Article(article_id="a1", title="Rates", text="", source="wire")
    paragraphs = [
        Paragraph(f"a1#p{n}", "a1", n, f"Dispatch {n} on interest rates.", 0, 9) for n in range(6000)
    ]
    wanted = {plan.row_id(article, p): (article, p) for p in paragraphs}
    stop = threading.Event()
    split = {"n": 0}
    real = writing.content_terms

    def stop_midway(text: str) -> list[str]:
        split["n"] += 1
        if split["n"] == 100:
            stop.set()
        return real(text)

    monkeypatch.setattr(writing, "content_terms", stop_midway)
    with pytest.raises(CancelledError):
        writing._build_bm25(tmp_path / "bm25-x", wanted, stop)
    assert split["n"] < len(wanted) / 2 and not list(tmp_path.iterdir())
    built = writing._build_bm25(tmp_path / "bm25-x", wanted, threading.Event())
    KeywordSnapshot.install(built, tmp_path / "bm25-x")
    snapshot = KeywordSnapshot(tmp_path / "bm25-x")
    snapshot.load()
    assert snapshot.ids == list(wanted) and snapshot.search(["rate"], 3)


# -- filtered dense search on the snapshot's vectors --------------------------------------------


def _dated_corpus(path: Path) -> None:
    """The seeds (undated) and 36 dated dispatches of six paragraphs each, 2019 to 2024."""
    from rag.corpus import load_articles, split_paragraphs

    shutil.copytree(ROOT / "seeds", path)
    texts = [p.text for a in load_articles([ROOT / "seeds"]).articles for p in split_paragraphs(a)]
    lines = []
    for a in range(36):
        body = "\n\n".join(f"Dispatch {a}.{i}: {texts[(a * 6 + i) % len(texts)]}" for i in range(6))
        date = f"{2019 + a % 6}/{1 + a % 12:02d}/{1 + (a * 5) % 28:02d}"
        lines.append(
            json.dumps(
                {"id": f"dispatch-{a:02d}", "title": f"Dispatch {a}", "publish_date": date, "text": body}
            )
        )
    (path / "dispatches.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> rag.Engine:
    """An index of the seeds and dated dispatches, ingested once (read-only for the tests using it)."""
    corpus = tmp_path_factory.mktemp("dated") / "corpus"
    _dated_corpus(corpus)
    engine = rag.open(corpus=corpus, index_dir=tmp_path_factory.mktemp("dated-index"), model_dir=model_dir)
    engine.ingest(progress=False)
    return engine


QUERIES = (
    "Who co-owns the Faena hotel?",
    "How long did the Kremlin meeting last?",
    "Kiril Dimitriev Harvard Goldman Sachs",
    "sanctions on Russian oil",
)


def _exact(index: ParagraphIndex, vector: np.ndarray, k: int, keep) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """Brute force over every committed row `keep` accepts, from the paragraph file: best first."""
    records = index.fetch(index._keywords.ids)
    scored = sorted(
        ((float(r.vector @ vector), rid) for rid, r in records.items() if keep(r)),
        key=lambda x: (-x[0], x[1]),
    )
    return [(rid, s) for s, rid in scored[:k]]


def _same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [r for r, _ in got] == [r for r, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


FILTERS = {
    "date window": (
        {"date_from": "2021-01-01", "date_to": "2021-12-31"},
        lambda r: "2021-01-01" <= r.publish_date <= "2021-12-31",
    ),
    "articles": (
        {"article_ids": ["dispatch-04", "dispatch-17", "002_33a30cdbeddf286c"]},
        lambda r: r.article_id in {"dispatch-04", "dispatch-17", "002_33a30cdbeddf286c"},
    ),
    "as of": ({"as_of": "2022-06-30"}, lambda r: not r.publish_date or r.publish_date <= "2022-06-30"),
}


@pytest.mark.parametrize(
    "hnsw_rows, split",
    [(None, False), (-(10**12), False), (10**12, False), (10**12, True)],
    ids=["measured", "hnsw", "exact", "exact-split"],
)
@pytest.mark.parametrize("name", list(FILTERS))
def test_filtered_dense_search_is_the_exact_search_over_the_filtered_rows(
    dated: rag.Engine, name: str, hnsw_rows: int | None, split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Either way a filter is answered (HNSW's candidates filtered, or the vectors of the rows
    # within the filter), the top k are those of a brute force over exactly those rows, in order.
    from rag import index as index_module
    from rag.index import keywords

    if hnsw_rows is not None:  # HNSW's cost, in rows read: the one way or the other is always cheaper
        monkeypatch.setattr(index_module, "HNSW_ROWS", hnsw_rows)
    if split:  # the scan of a large corpus, cut between threads and into products, on this small one
        monkeypatch.setattr(keywords, "_SPLIT_ROWS", 20)
        monkeypatch.setattr(keywords, "_PRODUCT_ROWS", 7)
        pool = keywords.ThreadPoolExecutor(2)
        monkeypatch.setattr(keywords, "_scan_pool", lambda: (pool, 3))
    index = dated._index
    filters, keep = FILTERS[name]
    for vector in dated.encoder.encode_queries(list(QUERIES)):
        for k in (1, 10, 30):
            got = index.dense_search(vector, k, **filters)
            _same(got, _exact(index, vector, k, keep))
    assert index._keywords.vectors is not None
    if split:
        pool.shutdown()


def test_too_few_hnsw_candidates_within_the_filter_fall_back_to_the_exact_search(
    dated: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import index as index_module

    monkeypatch.setattr(index_module, "HNSW_ROWS", -(10**12))
    monkeypatch.setattr(index_module, "HNSW_MARGIN", 0.01)  # asks HNSW for about k candidates only
    index = dated._index
    asked: list[int] = []
    real = index._chroma.query
    monkeypatch.setattr(index._chroma, "query", lambda v, n, *a: asked.append(n) or real(v, n, *a))
    (vector,) = dated.encoder.encode_queries(["Dispatch from Abu Dhabi"])
    got = index.dense_search(vector, 10, date_from="2020-01-01", date_to="2020-12-31")
    _same(got, _exact(index, vector, 10, lambda r: r.publish_date.startswith("2020")))
    assert asked == [1]  # HNSW answered first, with too few candidates of 2020


def test_as_of_keeps_undated_rows_and_a_date_range_does_not(dated: rag.Engine) -> None:
    index = dated._index
    (vector,) = dated.encoder.encode_queries(["Who co-owns the Faena hotel?"])
    terms = dated.retriever.query_terms("Who co-owns the Faena hotel?")[0]
    records = index.fetch(index._keywords.ids)
    undated = {rid for rid, r in records.items() if not r.publish_date}
    assert len(undated) == 79  # the seeds
    for hits in (
        index.dense_search(vector, 200, as_of="2020-06-30"),
        index.bm25_search(terms, 200, as_of="2020-06-30"),
    ):
        assert undated & {r for r, _ in hits}
        assert all(not records[r].publish_date or records[r].publish_date <= "2020-06-30" for r, _ in hits)
    dense = index.dense_search(vector, 200, as_of="2020-06-30")
    assert {r for r, _ in dense} == undated | {
        r for r, rec in records.items() if rec.publish_date and rec.publish_date <= "2020-06-30"
    }
    for hits in (
        index.dense_search(vector, 200, date_to="2020-06-30"),
        index.bm25_search(terms, 200, date_to="2020-06-30"),
    ):
        assert hits and not undated & {r for r, _ in hits}
    # As of the newest date or later, nothing is filtered: HNSW answers as unfiltered.
    newest = max(r.publish_date for r in records.values())
    assert index.newest_date() == newest == "2024-12-28"
    assert index.dense_search(vector, 10, as_of=newest) == index.dense_search(vector, 10)
    assert index.dense_search(vector, 10, as_of="2030-01-01") == index.dense_search(vector, 10)
    assert index.dense_search(vector, 10, article_ids=["no-such-article"]) == []
    assert index.bm25_search(terms, 10, article_ids=["no-such-article"]) == []


def test_newest_date_is_empty_when_no_row_is_dated(seeds_engine: rag.Engine) -> None:
    assert seeds_engine._index.newest_date() == ""
    (vector,) = seeds_engine.encoder.encode_queries(["Who co-owns the Faena hotel?"])
    assert len(seeds_engine._index.dense_search(vector, 5, as_of="2001-01-01")) == 5  # all undated


def _matrix_matches_rows(index: ParagraphIndex) -> None:
    """The committed snapshot's vectors are the paragraph file's, row for row in id order."""
    from rag.index.keywords import KeywordSnapshot

    snapshot = KeywordSnapshot(index._bm25_dir)
    snapshot.load()
    assert snapshot.vectors is not None and snapshot.vectors.shape == (len(snapshot.ids), 384)
    stored = index.rows.get(snapshot.ids)
    assert len(stored) == len(snapshot.ids)
    want = np.stack([np.frombuffer(stored[rid][2], dtype=np.float32) for rid in snapshot.ids])
    assert np.array_equal(np.asarray(snapshot.vectors), want)


def test_the_vector_matrix_follows_the_ids_through_unchanged_and_edited_reingests(
    engine: rag.Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.ingest(progress=False)
    _matrix_matches_rows(engine._index)
    read_back: list[int] = []
    real = RowStore.vectors
    monkeypatch.setattr(
        RowStore, "vectors", lambda self, rids: read_back.append(len(rids)) or real(self, rids)
    )
    assert engine.ingest(progress=False).unchanged == 79
    _matrix_matches_rows(engine._index)
    assert sum(read_back) == 0  # an unchanged re-ingest copies the committed matrix
    path = corpus / "003_b83f3884dc9034e7.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("nearly five hours", "nearly six hours"))
    (corpus / "002_33a30cdbeddf286c.txt").unlink()
    report = engine.ingest(progress=False)
    assert report.removed == 21 and report.paragraphs == 58
    _matrix_matches_rows(engine._index)
    assert 0 < sum(read_back) < 58  # only the rewritten rows are read back


def test_a_snapshot_without_vectors_answers_filters_through_chroma_until_the_next_ingest(
    tmp_path: Path, model_dir: Path
) -> None:
    # A snapshot written before the vectors were added (older code) still loads and filters.
    _dated_corpus(tmp_path / "corpus")
    engine = rag.open(corpus=tmp_path / "corpus", index_dir=tmp_path / "index", model_dir=model_dir)
    rows = engine.ingest(progress=False).paragraphs
    index = engine._index
    (index._bm25_dir / "vectors.npy").unlink()
    assert index.bm25_count() == rows and index._keywords.vectors is None
    for vector in engine.encoder.encode_queries(list(QUERIES)):
        for filters, keep in FILTERS.values():
            _same(index.dense_search(vector, 10, **filters), _exact(index, vector, 10, keep))
    assert engine.ingest(progress=False).unchanged == rows  # the next ingest adds the vectors
    _matrix_matches_rows(index)
    assert index.bm25_count() == rows and index._keywords.vectors is not None


def test_a_matrix_of_the_wrong_size_is_a_damaged_snapshot(engine: rag.Engine) -> None:
    engine.ingest(progress=False)
    np.save(engine._index._bm25_dir / "vectors.npy", np.zeros((3, 384), dtype=np.float32))
    with pytest.raises(IndexIncompleteError, match=r"damaged .*vectors.*run `rag ingest`"):
        engine._index.bm25_count()


def test_the_vector_matrix_is_put_in_place_with_its_snapshot_or_not_at_all(
    engine: rag.Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index.keywords import KeywordSnapshot

    engine.ingest(progress=False)
    index = engine._index
    before = (index._bm25_dir / "ids.json").read_text(), (index._bm25_dir / "vectors.npy").read_bytes()
    (corpus / "002_33a30cdbeddf286c.txt").unlink()

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("killed before the snapshot was put in place")

    for where in ("write_vectors", "install"):  # while the matrix is written, or once it is
        with monkeypatch.context() as patch:
            if where == "install":
                patch.setattr(KeywordSnapshot, "install", crash)
            else:
                patch.setattr(writing, "write_vectors", crash)
            with pytest.raises(KeyboardInterrupt):
                engine.ingest(progress=False)
        assert (
            (index._bm25_dir / "ids.json").read_text(),
            (index._bm25_dir / "vectors.npy").read_bytes(),
        ) == before
        assert not list(index.index_dir.glob(".bm25-*"))  # the build is removed with its matrix
        _matrix_matches_rows(index)
    report = engine.ingest(progress=False)
    assert report.paragraphs == 58 == index.bm25_count()
    _matrix_matches_rows(index)


def test_an_unfiltered_search_of_a_small_snapshot_is_exact_and_a_large_one_asks_hnsw(
    dated: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import index as index_module

    index = dated._index
    asked: list[int] = []
    real = index._chroma.query
    monkeypatch.setattr(index._chroma, "query", lambda v, n, *a: asked.append(n) or real(v, n, *a))
    for vector in dated.encoder.encode_queries(list(QUERIES)):
        _same(index.dense_search(vector, 10), _exact(index, vector, 10, lambda r: True))
    assert asked == []  # a few hundred rows: reading them all costs less than HNSW's fixed cost
    monkeypatch.setattr(index_module, "HNSW_ROWS", 10)
    index.dense_search(dated.encoder.encode_queries(["sanctions"])[0], 10)
    assert asked == [10]


def test_reads_run_side_by_side_and_a_swap_waits_for_them_and_holds_new_ones_back() -> None:
    import threading

    from rag.index.readers import Readers

    readers = Readers()
    both_in = threading.Barrier(2, timeout=10)
    release = threading.Event()
    events: list[str] = []

    def read(name: str) -> None:
        with readers.reading():
            both_in.wait()  # only passes if the two reads are inside at the same time
            events.append(f"{name} in")
            release.wait(10)
        events.append(f"{name} out")

    def swap() -> None:
        with readers.swapping():
            events.append("swap")

    def late_read() -> None:
        with readers.reading():
            events.append("late in")

    first = [threading.Thread(target=read, args=(n,)) for n in ("a", "b")]
    for t in first:
        t.start()
    while len(events) < 2:
        threading.Event().wait(0.01)
    swapper = threading.Thread(target=swap)
    swapper.start()
    while not readers._waiting:
        threading.Event().wait(0.01)
    late = threading.Thread(target=late_read)
    late.start()
    threading.Event().wait(0.2)
    assert "swap" not in events and "late in" not in events  # both wait for the two reads
    release.set()
    for t in [*first, swapper, late]:
        t.join(10)
    assert events.index("swap") > max(events.index("a out"), events.index("b out"))
    assert events.index("late in") > events.index("swap")  # the waiting swap went first


def test_a_question_reads_one_snapshot_and_the_next_read_swaps_in_a_new_one(
    engine: rag.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.ingest(progress=False)
    index = engine._index
    index.open_for_reading()
    swaps: list[bool] = []
    real = index._swap
    monkeypatch.setattr(index, "_swap", lambda: swaps.append(True) or real())
    with index.reading():
        index._snapshot = (0, 0)  # as if another process committed a new snapshot meanwhile
        index.bm25_search(["faena"], 3)
        index.idf("faena")
        assert swaps == []  # no swap in the middle of a question's reads
    index.bm25_search(["faena"], 3)
    assert swaps == [True]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_long_scan_is_split_between_threads_and_still_runs_in_a_forked_child() -> None:
    # The scan pool's threads do not survive a fork: a child that kept the parent's pool would
    # wait forever for its parts (checked: a ThreadPoolExecutor used before a fork times out after it).
    from rag.index import keywords

    rng = np.random.default_rng(7)
    vectors = rng.random((keywords._SPLIT_ROWS + 3_001, 16), dtype=np.float32)
    v = rng.random(16, dtype=np.float32)
    want = vectors @ v
    assert np.allclose(keywords.similarities(vectors, v), want, atol=1e-5)
    if keywords._scan_pool() is None:
        pytest.skip("one core: no scan is split")
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its own split scan finishes and agrees
        ok = False
        try:
            done = threading.Event()
            result: list[np.ndarray] = []
            worker = threading.Thread(
                target=lambda: (result.append(keywords.similarities(vectors, v)), done.set())
            )
            worker.start()
            ok = done.wait(20) and np.allclose(result[0], want, atol=1e-5)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

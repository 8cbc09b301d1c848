"""The local encoder: the fused ONNX export, int8 quality, duplicate paragraphs, sentence pooling."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import EXPORT_RECIPE, Settings
from rag.embedding import UNFUSED, OnnxEncoder, ensure_onnx_model
from rag.errors import EmbeddingError

PARAGRAPHS = [
    "The central bank raised interest rates by a quarter point on Tuesday. Inflation stayed above target.",
    "Heavy snow closed the mountain pass for three days. Dozens of trucks waited at the border.",
    "The striker scored twice in the second half, and the club moved to the top of the league.",
]


def _spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans at '. ' boundaries (enough for these fixed texts)."""
    spans, start = [], 0
    for i, ch in enumerate(text):
        if ch == "." and (i + 1 == len(text) or text[i + 1] == " "):
            spans.append((start, i + 1))
            start = i + 2
    return spans


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(ensure_onnx_model(model_dir), "local:all-MiniLM-L6-v2:fp32")


def test_export_is_fused_for_onnxruntime(model_dir: Path) -> None:
    import onnx

    graph = onnx.load(str(ensure_onnx_model(model_dir)), load_external_data=False).graph
    ops = {n.op_type for n in graph.node}
    # Fused kernels instead of dozens of small ops; this is where the speed comes from...
    assert {"EmbedLayerNormalization", "Attention", "LayerNormalization", "Gelu"} <= ops, ops
    # ...except the two whose onnxruntime CPU kernels are slower than the plain ops they replace.
    assert not {"SkipLayerNormalization", "BiasGelu"} & ops, ops


def test_the_session_does_not_fuse_the_slow_kernels_back(model_dir: Path, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    ops = {}
    for name, disabled in (("as_loaded", UNFUSED), ("default", None)):
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(tmp_path / f"{name}.onnx")
        path = str(ensure_onnx_model(model_dir, quantize=True))
        ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)
        ops[name] = {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}
    assert "LayerNormalization" in ops["as_loaded"], ops
    assert not {"SkipLayerNormalization", "BiasGelu"} & ops["as_loaded"], ops
    assert "SkipLayerNormalization" in ops["default"]  # what onnxruntime would do unasked


def test_a_new_export_recipe_names_a_new_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Vectors from another export are not the query encoder's: the index must be rebuilt.
    settings = Settings(corpus=str(tmp_path), index_dir=tmp_path / "index")
    before = settings.fingerprint()
    monkeypatch.setattr("rag.config.EXPORT_RECIPE", EXPORT_RECIPE + 1)
    assert settings.fingerprint() != before


def test_vectors_are_unit_and_similar_texts_are_close(encoder: OnnxEncoder) -> None:
    q = encoder.encode_queries(["Did the central bank raise interest rates?", "snow closed the pass"])
    assert q.shape == (2, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
    paras, _ = encoder.encode_paragraphs(PARAGRAPHS, [_spans(t) for t in PARAGRAPHS])
    sims = q @ paras.T
    assert sims[0].argmax() == 0 and sims[1].argmax() == 1


def test_duplicate_paragraphs_get_identical_vectors(encoder: OnnxEncoder) -> None:
    texts = [PARAGRAPHS[0], PARAGRAPHS[1], PARAGRAPHS[0]]
    vecs, sents = encoder.encode_paragraphs(texts, [_spans(t) for t in texts])
    alone, alone_sents = encoder.encode_paragraphs(PARAGRAPHS[:2], [_spans(t) for t in PARAGRAPHS[:2]])
    assert vecs.shape == (3, 384) and len(sents) == 3
    assert np.array_equal(vecs[0], vecs[2])
    assert np.allclose(vecs[:2], alone, atol=1e-5)
    assert np.allclose(sents[2], alone_sents[0], atol=1e-5)


def test_sentence_vectors_follow_their_own_sentence(encoder: OnnxEncoder) -> None:
    text = PARAGRAPHS[1]
    spans = _spans(text)
    _, (sents,) = encoder.encode_paragraphs([text], [spans])
    assert sents.shape == (2, 384)
    assert np.allclose(np.linalg.norm(sents, axis=1), 1, atol=1e-5)
    q = encoder.encode_queries(["snow closed the road", "trucks queued at the frontier"])
    sims = q @ sents.T
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]


def test_long_paragraph_is_encoded_whole_in_windows(encoder: OnnxEncoder) -> None:
    text = " ".join(PARAGRAPHS * 12)  # about 3 x 256 tokens
    spans = _spans(text)
    vecs, (sents,) = encoder.encode_paragraphs([text], [spans])
    assert vecs.shape == (1, 384) and sents.shape == (len(spans), 384)
    # The last sentences lie past the first window and still get their own vectors.
    assert not np.allclose(sents[-1], vecs[0], atol=1e-3)


def test_a_paragraph_gets_the_same_vectors_whatever_shares_its_batches(model_dir: Path) -> None:
    # Paragraphs are pooled as their last window comes through the model: a long paragraph's
    # windows land in different model calls, between other paragraphs' (batches of two here),
    # and must pool exactly as when the paragraph is encoded on its own.
    long = " ".join(PARAGRAPHS * 12)  # three windows: 256, 256 and a shorter tail
    other = " ".join(reversed(PARAGRAPHS * 5))  # two windows
    texts = [PARAGRAPHS[0], long, PARAGRAPHS[1], other, PARAGRAPHS[2]]
    spans = [_spans(t) for t in texts]
    paired = OnnxEncoder(ensure_onnx_model(model_dir), "x", batch_size=2)
    vecs, sents = paired.encode_paragraphs(texts, spans)
    for i, text in enumerate(texts):
        alone, (alone_sents,) = paired.encode_paragraphs([text], [spans[i]])
        assert np.allclose(vecs[i], alone[0], atol=1e-5), i
        assert sents[i].shape == alone_sents.shape and np.allclose(sents[i], alone_sents, atol=1e-5), i
    assert sorted(paired.sequence_lengths(texts), reverse=True)[:3] == [256, 256, 256]
    # And in window order: the long paragraph's windows run one by one, in text order, by hand.
    tokens = paired._tok.encode(long, add_special_tokens=False)
    windows, _ = paired._windows([tokens])
    states = []
    for seq in windows:
        ids = np.array([seq], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        states.append(paired._session.run(None, feed)[0][0])
    mean = np.concatenate(states).mean(axis=0)
    assert np.allclose(vecs[1], mean / np.linalg.norm(mean), atol=1e-5)
    by_hand = paired._pool_sentences(states, tokens.offsets, spans[1], mean)
    assert np.allclose(sents[1], by_hand, atol=1e-5)


def test_sequence_lengths_count_every_window_once(encoder: OnnxEncoder) -> None:
    long = " ".join(PARAGRAPHS * 12)
    lengths = encoder.sequence_lengths([long, PARAGRAPHS[0], long])  # the repeat is encoded once
    n = len(encoder._tok.encode(long, add_special_tokens=False).ids)
    assert sum(lengths[:-1]) == n + 2 * (len(lengths) - 1) and max(lengths) == 256
    assert lengths[-1] == len(encoder._tok.encode(PARAGRAPHS[0], add_special_tokens=False).ids) + 2


def test_empty_input_and_bad_batch_size(encoder: OnnxEncoder, model_dir: Path) -> None:
    vecs, sents = encoder.encode_paragraphs([], [])
    assert vecs.shape == (0, 384) and sents == []
    with pytest.raises(EmbeddingError, match="batch_size must be at least 1, got 0"):
        OnnxEncoder(ensure_onnx_model(model_dir), "x", batch_size=0)


def test_corrupt_cached_model_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EmbeddingError, match="broken.onnx"):
        OnnxEncoder(bad, "x")


@pytest.mark.slow
def test_int8_model_stays_close_to_float32(model_dir: Path, encoder: OnnxEncoder) -> None:
    int8 = OnnxEncoder(ensure_onnx_model(model_dir, quantize=True), "local:all-MiniLM-L6-v2:int8")
    spans = [_spans(t) for t in PARAGRAPHS]
    a, _ = encoder.encode_paragraphs(PARAGRAPHS, spans)
    b, _ = int8.encode_paragraphs(PARAGRAPHS, spans)
    cos = (a * b).sum(axis=1)
    # Per-channel weights: cos about 0.99 (per-tensor int8 gave 0.96 on the news corpus).
    assert cos.min() > 0.97, cos
    q = ["Did the central bank raise interest rates?"]
    assert (int8.encode_queries(q) @ b.T).argmax() == 0


def test_quantizing_leaves_no_log_handler_behind(model_dir: Path, tmp_path: Path) -> None:
    # onnxruntime.quantization calls logging.basicConfig on import; left in place, it printed
    # bm25s's DEBUG lines in every later `rag ingest`.
    ensure_onnx_model(model_dir)  # the float32 export, copied so only the quantizing runs
    for f in model_dir.glob("*.onnx"):
        if ".int8." not in f.name:
            shutil.copy(f, tmp_path / f.name)
    code = (
        "import logging, sys; from pathlib import Path; from rag.embedding import ensure_onnx_model; "
        f"ensure_onnx_model(Path({str(tmp_path)!r}), quantize=True); "
        "assert list(Path(sys.argv[1]).glob('*.int8.onnx')); "
        "logging.getLogger('bm25s').setLevel(logging.DEBUG); logging.getLogger('bm25s').debug('tokens')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "tokens" not in run.stderr and "DEBUG" not in run.stderr, run.stderr[-2000:]


@pytest.mark.slow
def test_onnx_matches_sentence_transformers(encoder: OnnxEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    from rag.embedding import bundled_model_dir

    reference = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    expected = reference.encode(PARAGRAPHS, normalize_embeddings=True)
    got, _ = encoder.encode_paragraphs(PARAGRAPHS, [_spans(t) for t in PARAGRAPHS])
    assert np.allclose(got, expected, atol=1e-4)

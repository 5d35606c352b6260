"""The reptile classifier: one onnxruntime session + preprocessing + postprocessing.

Thread-safety: :meth:`ReptileClassifier.identify` may be called from several threads at once
(onnxruntime's ``InferenceSession.run`` is thread-safe; everything else is per-call state).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inference.postprocess import DEFAULT_CALIBRATION, Calibration, postprocess
from inference.preprocess import ImageLimits, decode_image, to_model_input
from inference.session import open_session
from inference.types import Identification

#: Directory holding the committed model files.
MODELS_DIR = Path(__file__).resolve().parent / "models"
#: The default model (EfficientNet-Lite0, ImageNet-1k, exported by training/export_onnx.py).
DEFAULT_MODEL = MODELS_DIR / "efficientnet_lite0.onnx"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the classifier needs to know from the model's json metadata.

    Attributes:
        name: identifier reported in ``Identification.model``: ``"<file stem>@<sha256[:12]>"``.
        input_name: ONNX input name.
        input_size: square crop side in pixels.
        resize_size: short side after the bicubic resize, before the crop.
        labels: the 1000 ImageNet class names, or ``None`` when the labels file is missing.
        calibration: thresholds and temperatures for :func:`inference.postprocess.postprocess`.
    """

    name: str
    input_name: str
    input_size: int
    resize_size: int
    labels: tuple[str, ...] | None
    calibration: Calibration


def load_model_info(model_path: Path, meta_path: Path | None = None) -> ModelInfo:
    """Read ``<model>.json`` next to ``model_path`` (or ``meta_path``).

    Raises:
        FileNotFoundError: the json is missing.
        ValueError: the json is not valid or declares a normalisation other than the Lite one.
    """
    meta_path = meta_path or model_path.with_suffix(".json")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    if meta.get("mean", [127.0] * 3) != [127.0] * 3 or meta.get("std", [128.0] * 3) != [128.0] * 3:
        raise ValueError(f"{meta_path}: only the Lite normalisation (x-127)/128 is implemented")
    labels: tuple[str, ...] | None = None
    labels_file = meta.get("labels_file")
    if labels_file and (meta_path.parent / labels_file).exists():
        lines = (meta_path.parent / labels_file).read_text(encoding="utf-8").splitlines()
        labels = tuple(line.strip() for line in lines if line.strip())
        if len(labels) != 1000:
            raise ValueError(f"{labels_file}: expected 1000 labels, found {len(labels)}")
    sha = str(meta.get("sha256", ""))[:12]
    return ModelInfo(
        name=f"{model_path.stem}@{sha}" if sha else model_path.stem,
        input_name=str(meta.get("input_name", "input")),
        input_size=int(meta["input_size"]),
        resize_size=int(meta.get("resize_size", int(meta["input_size"]) + 32)),
        labels=labels,
        calibration=Calibration.from_mapping(meta.get("calibration", {}), DEFAULT_CALIBRATION),
    )


class ReptileClassifier:
    """Identify the reptile in a photo with an ImageNet-1k EfficientNet-Lite ONNX model.

    Args:
        model_path: the ``.onnx`` file (default: the committed EfficientNet-Lite0).
        meta_path: its json metadata (default: same stem, ``.json``).
        threads: onnxruntime threads used by one inference (default 1: the bot runs several
            inferences in parallel in a thread pool instead, see :mod:`inference.runner`).
        limits: default decoding limits for :meth:`identify` (default :class:`ImageLimits()`).
        calibration: override the json's thresholds (e.g. in experiments); ``None`` = json values.

    Raises:
        FileNotFoundError: the model or its json is missing.
        ValueError: the metadata is invalid.
    """

    def __init__(
        self,
        model_path: Path | str = DEFAULT_MODEL,
        meta_path: Path | str | None = None,
        *,
        threads: int = 1,
        limits: ImageLimits | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.exists():
            raise FileNotFoundError(self.model_path)
        info = load_model_info(self.model_path, Path(meta_path) if meta_path else None)
        if calibration is not None:
            info = ModelInfo(info.name, info.input_name, info.input_size, info.resize_size,
                             info.labels, calibration)
        self.info = info
        self.limits = limits or ImageLimits()
        self._session = open_session(self.model_path, threads)
        outputs = [o.name for o in self._session.get_outputs()]
        if outputs[:2] != ["logits", "embedding"]:
            raise ValueError(f"{self.model_path}: expected outputs logits, embedding; got {outputs}")

    @property
    def name(self) -> str:
        """Model identifier, ``"<file stem>@<sha256 prefix>"``."""
        return self.info.name

    @property
    def labels(self) -> Sequence[str] | None:
        """The 1000 ImageNet class names (or ``None``)."""
        return self.info.labels

    def predict_logits(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on a preprocessed batch.

        Args:
            batch: float32 array (N, 3, S, S), S = ``info.input_size``, as made by
                :func:`inference.preprocess.to_model_input` (N >= 1).

        Returns:
            ``(logits, embedding)``: float32 arrays of shape (N, 1000) and (N, 1280).

        Raises:
            ValueError: wrong shape.
        """
        s = self.info.input_size
        if batch.ndim != 4 or batch.shape[1:] != (3, s, s):
            raise ValueError(f"expected (N, 3, {s}, {s}), got {batch.shape}")
        logits, emb = self._session.run(
            ["logits", "embedding"], {self.info.input_name: np.ascontiguousarray(batch, np.float32)}
        )
        return logits, emb

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """RGB image -> (1, 3, S, S) float32 model input (see :func:`to_model_input`)."""
        return to_model_input(img, self.info.input_size, self.info.resize_size)

    def identify_image(self, img: Image.Image, *, _t0: float | None = None) -> Identification:
        """Identify a decoded image (any mode; converted to RGB).

        Returns:
            An :class:`Identification`; ``elapsed_ms`` covers preprocessing + inference (+ decoding
            when called through :meth:`identify`).
        """
        t0 = time.perf_counter() if _t0 is None else _t0
        logits, _emb = self.predict_logits(self.preprocess(img))
        elapsed = (time.perf_counter() - t0) * 1000.0
        return postprocess(logits[0], self.info.calibration, self.info.labels,
                           model=self.name, elapsed_ms=elapsed)

    def identify(self, data: bytes, limits: ImageLimits | None = None) -> Identification:
        """Decode untrusted bytes and identify the photo.

        Args:
            data: image file bytes.
            limits: size limits (default: the constructor's ``limits``); any object with
                ``max_bytes``, ``max_pixels`` and ``min_side`` attributes works.

        Raises:
            ImageRejected: the bytes are not a usable image (see :func:`decode_image`).
        """
        lim = limits or self.limits
        t0 = time.perf_counter()
        img = decode_image(data, max_bytes=lim.max_bytes, max_pixels=lim.max_pixels,
                           min_side=lim.min_side, draft_size=self.info.resize_size)
        return self.identify_image(img, _t0=t0)

"""Errors raised by image decoding and inference."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why an input could not be identified. Callers map each reason to a kind, user-facing reply."""

    EMPTY = "empty"                    # zero bytes
    TOO_LARGE = "too_large"            # more bytes than the configured limit
    NOT_AN_IMAGE = "not_an_image"      # Pillow does not recognise the format (text, HTML, PDF, video...)
    UNSUPPORTED = "unsupported"        # recognised but not a supported still-image format (e.g. SVG)
    CORRUPT = "corrupt"                # recognised image whose data is truncated or broken
    TOO_MANY_PIXELS = "too_many_pixels"  # decompression bomb: width*height above the configured limit
    TOO_SMALL = "too_small"            # smaller than the minimum useful size (e.g. 1x1)


class ImageRejected(ValueError):
    """Raised when input bytes cannot be turned into a model input.

    Attributes:
        reason: a :class:`RejectReason`.
        detail: a short technical explanation for logs (never contains the image bytes).
    """

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class Busy(RuntimeError):
    """Raised when the inference queue is full; the caller should answer "busy, try again soon".

    Raised by :class:`inference.runner.InferenceRunner` instead of queueing more work.

    Attributes:
        pending: jobs queued or running when the request was refused (0 when unknown).
        max_pending: the runner's limit (0 when unknown).
    """

    def __init__(self, pending: int = 0, max_pending: int = 0) -> None:
        super().__init__(f"inference queue full ({pending}/{max_pending} jobs)" if max_pending
                         else "inference queue full")
        self.pending = pending
        self.max_pending = max_pending

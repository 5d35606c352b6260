"""Image decoding and on-device reptile identification (no chat-platform knowledge)."""

from inference.errors import ImageRejected, RejectReason
from inference.types import REPTILE_TYPES, Identification, TaxonScore

__all__ = ["REPTILE_TYPES", "Identification", "ImageRejected", "RejectReason", "TaxonScore"]

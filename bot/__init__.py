"""Reptile Museum chatbot: platform-neutral core (``bot.core``) and platform adapters (``bot.adapters``)."""

import os

__version__ = "0.1.0"

# onnxruntime (>= 1.2x official builds) keeps a telemetry device id under ~/.cache, a session file in
# TMPDIR and may upload usage events. A children's bot sends nothing anywhere: opt out before
# onnxruntime is first imported (ORT_DISABLE_TELEMETRY=0 in the environment turns it back on).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Reptile Museum bot: runtime only (no torch, no training/, no test tools: those live in tests/ and are
# never copied). The ONNX model and species.sqlite are baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STATE_DB_PATH=/data/state.sqlite

RUN useradd --create-home --uid 10001 reptile && mkdir -p /data && chown reptile /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY inference ./inference
COPY species.sqlite ./species.sqlite
COPY packs ./packs
RUN pip install --no-cache-dir . && python -c "import onnxruntime, telegram, discord"

ENV MODEL_PATH=/app/inference/models/efficientnet_lite0.onnx \
    SPECIES_DB_PATH=/app/species.sqlite
USER reptile
VOLUME ["/data"]
ENTRYPOINT ["reptile-museum"]
CMD ["run"]

"""Wiring: one species repository, one inference session and one worker pool, shared by all adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.identify import IdentifyService
from bot.core.species import SpeciesRepository
from bot.settings import Settings
from inference.classifier import ReptileClassifier
from inference.preprocess import ImageLimits
from inference.runner import InferenceRunner

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the adapters share. Create with :func:`open_services`, release with :meth:`close`."""

    settings: Settings
    species: SpeciesRepository
    runner: InferenceRunner
    identify: IdentifyService

    async def close(self) -> None:
        """Stop the worker pool and close the database."""
        self.runner.close()
        await self.species.close()


async def open_services(settings: Settings) -> Services:
    """Load the model (one ``InferenceSession``) and open the species database read-only.

    Raises:
        FileNotFoundError: when the model or the database is missing.
    """
    species = await SpeciesRepository.open(settings.species_db_path)
    try:
        limits = ImageLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
        classifier = ReptileClassifier(settings.model_path, threads=settings.onnx_threads, limits=limits)
        runner = InferenceRunner(
            classifier, workers=settings.inference_workers, max_pending=settings.inference_queue
        )
    except BaseException:
        await species.close()
        raise
    log.info("model %s loaded; %d taxa in the species database", classifier.model_id, len(species.taxa))
    identify = IdentifyService(runner, species, settings.max_image_bytes)
    return Services(settings, species, runner, identify)

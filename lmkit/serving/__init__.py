"""Serving many users with one model: continuous batching for generation, micro-batching for
classification. Introduced in chapter 14.

- :mod:`lmkit.serving.engine`: :class:`GenerationEngine`, a request queue and one worker thread
  that decodes every running request in one batched step;
- :mod:`lmkit.serving.batched_step`: that step, each request at its own position;
- :mod:`lmkit.serving.handle`: what a caller holds (:class:`RequestHandle`) and the errors;
- :mod:`lmkit.serving.batcher`: :class:`BatchWorker` and :class:`ClassificationBatcher`;
- :mod:`lmkit.serving.memo`: :class:`SharedMemo`, answers worked out once for many visitors.
"""

from lmkit.serving.batcher import BatchWorker, ClassificationBatcher
from lmkit.serving.engine import GenerationEngine
from lmkit.serving.handle import (
    EngineClosedError,
    GenerationFailed,
    GenerationResult,
    RequestCancelled,
    RequestHandle,
    ServerBusyError,
)
from lmkit.serving.memo import SharedMemo

__all__ = [
    "BatchWorker",
    "ClassificationBatcher",
    "EngineClosedError",
    "GenerationEngine",
    "GenerationFailed",
    "GenerationResult",
    "RequestCancelled",
    "RequestHandle",
    "ServerBusyError",
    "SharedMemo",
]

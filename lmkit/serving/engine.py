"""A generation server in one class: a request queue, one worker thread, continuous batching.

Introduced in chapter 14 ("how serving systems batch"; vLLM's continuous batching is the
reference). Many people asking one model for text at once could each run
:func:`lmkit.decoding.generation.generate` in their own thread; on a small machine they then
queue behind each other, and every one of them pays the full cost of a forward pass per token
even though a forward pass for 30 tokens costs little more than for one. A
:class:`GenerationEngine` owns the model and runs **one** loop in **one** thread:

    while the engine runs:
        admit waiting requests (up to max_batch): prefill each prompt        (join)
        choose every running request's next token, with *its* settings     (sample)
        hand the token to its handle; drop requests that are done          (leave)
        one batched forward for all running requests                       (decode)

Requests join and leave *between steps* (continuous, or "in-flight", batching): a request
that arrives while 20 others are half-way through does not wait for them to finish, it is
prefilled and joins at the next step, and a finished request frees its place at once.

**The design choice: prefill alone, decode in one shared cache.** Each request keeps its own
batch-1 :class:`~lmkit.decoding.window.ContextWindow` (the same object ``generate`` uses), so
its prompt is prefilled, and its window slides when the context is full, exactly as
``generate`` would do it. The prefilled keys are then copied once into the request's row of
one :class:`~lmkit.serving.row_cache.RowKVCache` (left-aligned, a length per row), and the
decoding step (:func:`lmkit.serving.batched_step.decode_step`) runs all requests in one
forward pass with one cache write per layer, every row at its own position, a mask hiding
each row's padding. vLLM's paged cache solves the same problem with fixed-size blocks and an
index, so that rows need not be reserved at full length.

**Same tokens as alone.** Every request has its own settings
(:class:`~lmkit.decoding.generation.GenerationConfig`) and its own ``torch.Generator``, and its
tokens are chosen by the same function as in ``generate``
(:func:`~lmkit.decoding.generation.choose_next_tokens`). So a request gives the tokens it
would give alone, whatever else is in the batch and whenever it joins. (The logits agree to
about 1e-5, not to the last bit: a batched matmul adds up in another order than a single
row's. A token can only change where two candidates tie to that precision.)

Handles (:class:`RequestHandle`) stream :class:`~lmkit.decoding.generation.TokenStep` objects
as they are made and give a :class:`GenerationResult` at the end; ``cancel()`` drops a request
at the next step; a model error is delivered to every request of the failing step as a
:class:`GenerationFailed`; a full queue refuses new requests with :class:`ServerBusyError`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from lmkit.decoding.checks import check_model, eval_mode, model_device
from lmkit.decoding.generation import (
    GenerationConfig,
    choose_next_tokens,
    describe_steps,
    prepare_inputs,
)
from lmkit.decoding.window import ContextWindow
from lmkit.errors import ConfigError, InputError
from lmkit.serving.batched_step import check_batchable, decode_step
from lmkit.serving.handle import (
    EngineClosedError,
    GenerationFailed,
    GenerationResult,
    RequestCancelled,
    RequestHandle,
    ServerBusyError,
)
from lmkit.serving.row_cache import RowKVCache
from lmkit.serving.worker import WorkerThread
from lmkit.validators import check_int

__all__ = ["GenerationEngine"]


@dataclass(eq=False)
class _Request:
    """One request inside the engine: what it asked for and where it has got to."""

    handle: RequestHandle
    config: GenerationConfig
    prompt: torch.Tensor  # (1, T) on the model's device
    seq: torch.Tensor = field(init=False)  # (1, T + new so far)
    generator: torch.Generator | None = None
    window: ContextWindow | None = None
    row: int = -1  # its row in the engine's RowKVCache while it runs
    logits: torch.Tensor | None = None  # (1, V): the next token's, waiting to be chosen
    steps: list = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.seq = self.prompt


class GenerationEngine(WorkerThread):
    """Serve greedy and sampled generation for many callers with one model and one thread.

    ``submit(prompt, config, **overrides)`` queues a request and returns a
    :class:`RequestHandle` at once. ``max_batch`` requests decode together; up to
    ``max_waiting`` more wait for a place, and beyond that ``submit`` raises
    :class:`ServerBusyError`. With a ``tokenizer``, prompts may be text and handles can give
    text. Use it as a context manager, or call :meth:`close`. Introduced in chapter 14.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        max_batch: int = 32,
        max_waiting: int = 256,
        name: str = "lmkit-generation",
    ) -> None:
        check_model(model)
        check_batchable(model)
        super().__init__(name)
        self.model, self.tokenizer = model, tokenizer
        self.max_batch = check_int("max_batch", max_batch, minimum=1)
        self.max_waiting = check_int("max_waiting", max_waiting, minimum=0)
        self.device = model_device(model)
        self._waiting: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._cache: RowKVCache | None = None  # made by the worker, under inference_mode
        self.steps_run = 0  # batched forward passes so far (for tests and benchmarks)
        self.largest_batch = 0
        self._start()

    # ------------------------------------------------------------------------ the caller's side
    def submit(
        self,
        prompt: object,
        config: GenerationConfig | None = None,
        *,
        on_token: Any = None,
        **overrides: Any,
    ) -> RequestHandle:
        """Queue one prompt (token ids as for ``generate``, or text when the engine has a
        tokenizer) with its own settings; ``on_token(step)`` is called from the worker for
        each new token. Settings are checked here, so a bad value fails in the caller."""
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise InputError("This engine has no tokenizer: pass token ids, not text.")
            prompt = self.tokenizer.encode(prompt)
        config, batch, _ = prepare_inputs(self.model, prompt, config, overrides)
        if config.strategy == "beam":
            raise ConfigError(
                "The generation engine serves strategy 'greedy' and 'sample'; for beam search "
                "call lmkit.decoding.beam.beam_search()."
            )
        if batch.shape[0] != 1:
            raise InputError(f"submit() takes one prompt, got {batch.shape[0]} rows.")
        if on_token is not None and not callable(on_token):
            raise ConfigError(f"on_token must be callable or None, got {type(on_token).__name__}.")
        handle = RequestHandle(self.tokenizer, on_token, config.eos_id)
        request = _Request(handle, config, batch.to(self.device))
        seed = config.seed if config.seed is not None else torch.Generator().seed()
        request.generator = torch.Generator(device=self.device).manual_seed(seed)
        with self._wake:
            if self._closed:
                raise EngineClosedError("The generation engine has been closed.")
            if len(self._waiting) >= self.max_waiting:
                raise ServerBusyError(
                    f"The server is busy: {len(self._running)} requests are generating and "
                    f"{len(self._waiting)} are waiting. Please try again in a moment."
                )
            self._waiting.append(request)
            self._wake.notify()
        return handle

    @property
    def load(self) -> tuple[int, int]:
        """(running, waiting) requests now."""
        with self._wake:
            return len(self._running), len(self._waiting)

    # ------------------------------------------------------------------------ the worker's side
    def _loop(self) -> None:
        try:
            while self._next_batch():
                with eval_mode(self.model), torch.inference_mode():
                    self._step()
        finally:
            closed = EngineClosedError("The generation engine was closed before this finished.")
            with self._wake:
                leftover = [*self._running, *self._waiting]
                self._running, self._waiting = [], deque()
            for request in leftover:
                request.handle._fail(closed)

    def _next_batch(self) -> bool:
        """Wait for work, move waiting requests into the batch; False once closed."""
        with self._wake:
            while not self._closed and not self._running and not self._waiting:
                self._wake.wait()
            if self._closed:
                return False
            joining = []
            while self._waiting and len(self._running) + len(joining) < self.max_batch:
                joining.append(self._waiting.popleft())
        with eval_mode(self.model), torch.inference_mode():
            for request in joining:
                if request.handle.cancelled:
                    request.handle._fail(RequestCancelled("The request was cancelled."))
                    continue
                try:  # prefill alone: exactly what generate() does with this prompt
                    request.window = ContextWindow(self.model, 1, self.device, use_cache=True)
                    request.logits = request.window.prefill(request.seq)
                    request.row = self._free_row()
                    self._cache.load_row(request.row, request.window.cache)
                except Exception as exc:
                    request.handle._fail(GenerationFailed.wrap(exc))
                    continue
                with self._wake:
                    self._running.append(request)
        return True

    def _free_row(self) -> int:
        """A row of the shared cache that no running request holds (there is always one)."""
        if self._cache is None:
            self._cache = RowKVCache.for_model(self.model, self.max_batch, self.device)
        taken = {request.row for request in self._running}
        return min(set(range(self.max_batch)) - taken)

    def _step(self) -> None:
        """Choose each running request's next token, retire finished ones, decode the rest."""
        live = []
        for request in self._running:
            if request.handle.cancelled:
                request.handle._fail(RequestCancelled("The request was cancelled."))
            else:
                live.append(request)
        still_going = [r for group in _choice_groups(live) for r in self._choose(group)]
        sliding, batched = [], []
        for request in still_going:
            # The same test ContextWindow.advance makes: is the window full?
            full = request.seq.shape[1] - request.window.start > request.window.block_size
            (sliding if full else batched).append(request)
        try:
            for request in sliding:  # re-prefill alone, as generate() does
                request.logits = request.window.advance(request.seq)
                self._cache.load_row(request.row, request.window.cache)
            if batched:
                last = torch.cat([request.seq[:, -1] for request in batched])
                rows = [request.row for request in batched]
                logits = decode_step(self.model, self._cache, rows, last)
                for row, request in enumerate(batched):
                    request.logits = logits[row : row + 1]
                self.steps_run += 1
                self.largest_batch = max(self.largest_batch, len(batched))
        except Exception as exc:
            failure = GenerationFailed.wrap(exc)
            for request in still_going:
                request.handle._fail(failure)
            still_going = []
        with self._wake:
            self._running = still_going

    def _choose(self, group: list[_Request]) -> list[_Request]:
        """Pick and deliver one token for each request of a group; returns those not finished."""
        first = group[0]
        logits = torch.cat([request.logits for request in group])  # (G, V)
        try:
            # A group shares its settings; seq and generator are only read by a repetition
            # penalty or a draw, and a group of more than one has neither (_choice_groups).
            ids, processed = choose_next_tokens(logits, first.seq, first.config, first.generator)
            steps = describe_steps(
                logits,
                processed,
                ids,
                first.config.top_alternatives,
                [len(request.steps) for request in group],
                [request.started for request in group],
            )
        except Exception as exc:
            for request in group:
                request.handle._fail(GenerationFailed.wrap(exc))
            return []
        going = []
        for row, (request, step) in enumerate(zip(group, steps, strict=True)):
            config = request.config
            request.seq = torch.cat([request.seq, ids[row : row + 1, None]], dim=1)
            request.steps.append(step)
            request.handle._deliver(step)
            ended = config.eos_id is not None and step.token_id == config.eos_id
            if ended or len(request.steps) == config.max_new_tokens:
                request.handle._finish(
                    GenerationResult(
                        request.prompt[0].tolist(),
                        [s.token_id for s in request.steps],
                        list(request.steps),
                        "eos" if ended else "length",
                    )
                )
            else:
                going.append(request)
        return going


def _choice_groups(requests: list[_Request]) -> list[list[_Request]]:
    """Requests whose next token can be chosen together: greedy ones without a repetition
    penalty (one argmax over their stacked logits, the same per row as alone) that report the
    same number of alternatives. Every other request is a group of its own, since it draws
    with its own generator or penalises its own history."""
    groups: dict[object, list[_Request]] = {}
    for request in requests:
        config = request.config
        greedy = config.strategy == "greedy" or config.temperature == 0
        shared = greedy and config.repetition_penalty == 1.0
        key = ("greedy", config.top_alternatives) if shared else id(request)
        groups.setdefault(key, []).append(request)
    return list(groups.values())

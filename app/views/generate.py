"""Generate page: continue a prompt with greedy decoding, sampling or beam search, and look inside.

Tokens stream in as the model makes them. For every generated token the reader can open the
step and compare the model's own next-token probabilities with those after repetition penalty,
temperature, top-k and top-p (:func:`lmkit.viz.next_token_bars`). Beam search draws its whole
search tree (:func:`lmkit.viz.beam_tree`). Step-by-step mode adds one token per click.

Prompts are fed after ``<|endoftext|>``, the way tiny-gpt saw every story start in training; an
empty prompt therefore starts a brand-new story (and the page says so). Text comes from the shared
engine (:func:`common.generated_steps`); beam search takes a work slot (:func:`common.work_slot`).
"""

from __future__ import annotations

import re
import time
from typing import Any

import common
import streamlit as st

from lmkit.data.instructions import PROMPT_TEMPLATE, format_instruction
from lmkit.decoding.beam import beam_search
from lmkit.decoding.generation import GenerationConfig, TokenStep
from lmkit.hub import model_info
from lmkit.viz.decoding import beam_tree, next_token_bars, token_confidence
from lmkit.viz.tokens import visible

EXAMPLES = {
    "English — a park story": "Alice went to the park.",
    "中文 — 苹果": "我喜欢吃苹果。",
    "English — a dog": "Tom has a small dog.",
    "中文 — 公园": "小明和妈妈去了公园。",
    "Mixed scripts": "Lucy 喜欢 apples.",
}
STRATEGIES = {
    "greedy": "Greedy: always the most likely token",
    "sample": "Sampling: draw from the (reshaped) distribution",
    "beam": "Beam search: keep several candidates",
}
DEFAULT_INSTRUCTION = "Where did Alice go?"
MAX_NEW_TOKENS = 200
BEAM_MAX_NEW_TOKENS = 24  # a longer tree is unreadable and slow to draw
TOP_ALTERNATIVES = 40  # candidates recorded per step; the figure shows the top 10 of them
REDRAW_SECONDS = 0.08  # how often streamed text is redrawn
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def _escape(text: str) -> str:
    """Text shown literally inside st.markdown (no formatting, no colour tags, kept newlines)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def _label(tokenizer: Any, token_id: int) -> str:
    return tokenizer.id_to_token(token_id)


def _continuation(tokenizer: Any, steps: list[TokenStep], eos_id: int | None, final: bool) -> str:
    ids = [s.token_id for s in steps if s.token_id != eos_id]
    text = tokenizer.decode(ids)
    # A character split over several byte tokens shows as U+FFFD until its last byte arrives.
    return text if final else text.rstrip("\ufffd")


# ------------------------------------------------------------------------------ controls
def _bounded(label: str, value: Any, lo: float, hi: float) -> Any:
    """``value`` if it lies in the widget's range, else the nearest end (and a note). A browser
    cannot send such a value, but a hand-made request can, and lmkit would then refuse it."""
    if isinstance(value, (int, float)) and lo <= value <= hi:
        return value
    fixed = min(max(value, lo), hi) if isinstance(value, (int, float)) and value == value else lo
    st.info(f"{label} must be in {lo:g}…{hi:g}; {value!r} was replaced by {fixed:g}.")
    return type(lo)(fixed)


def _controls(vocab_size: int, instruction_tuned: bool = False) -> dict[str, Any]:
    st.session_state.setdefault("gen_prompt", EXAMPLES["English — a park story"])
    instruction = None
    if instruction_tuned:
        template = PROMPT_TEMPLATE.replace("\n", " ⏎ ")
        st.caption(
            f"This model answers an instruction about a short story. Your instruction and the "
            f"story below are written into its template, `{template}`, and the answer follows."
        )
        instruction = st.text_input(
            "Instruction", DEFAULT_INSTRUCTION, key="gen_instruction", max_chars=200,
            help="A question about the story (who, where, what, why), or “Summarize the story "
            "in one sentence.”, in English or Chinese (用一句话概括这个故事。).",
        )  # fmt: skip

    def use_example() -> None:
        choice = st.session_state.get("gen_example")
        if choice in EXAMPLES:
            st.session_state.gen_prompt = EXAMPLES[choice]

    st.selectbox(
        "Example prompts",
        list(EXAMPLES),
        index=None,
        placeholder="Pick an example (English or Chinese)…",
        key="gen_example",
        on_change=use_example,
    )
    prompt = st.text_area(
        "Input (a short story)" if instruction_tuned else "Prompt",
        key="gen_prompt",
        max_chars=common.MAX_CHARS,
        height=90,
        help=(
            f"The story the instruction is about; {common.CHAR_LIMIT_HINT}."
            if instruction_tuned
            else f"The start of a story; {common.CHAR_LIMIT_HINT}. Leave it empty for a new story."
        ),
    )
    strategy = st.radio(
        "Strategy", list(STRATEGIES), format_func=STRATEGIES.get, key="gen_strategy"
    )
    sampling = strategy == "sample"
    cols = st.columns(2)
    temperature = cols[0].slider(
        "Temperature", 0.05, 2.0, 0.8, 0.05, key="gen_temperature", disabled=not sampling,
        help="Below 1 sharpens the distribution, above 1 flattens it. Sampling only.",
    )  # fmt: skip
    top_p = cols[1].slider(
        "Top-p (1.0 = off)", 0.05, 1.0, 1.0, 0.05, key="gen_top_p", disabled=not sampling,
        help="Keep the smallest set of likely tokens whose probabilities add up to p.",
    )  # fmt: skip
    top_k = cols[0].number_input(
        "Top-k (0 = off)", 0, vocab_size, 0, 1, key="gen_top_k", disabled=not sampling,
        help="Keep only the k most likely tokens.",
    )  # fmt: skip
    penalty = cols[1].slider(
        "Repetition penalty (1.0 = off)", 1.0, 2.0, 1.0, 0.05, key="gen_penalty",
        disabled=strategy == "beam",
        help="Makes tokens that are already in the text less likely (greedy and sampling).",
    )  # fmt: skip
    max_new = cols[0].slider("Max new tokens", 1, MAX_NEW_TOKENS, 48, key="gen_max_new")
    seed = cols[1].number_input(
        "Seed", 0, 2**31 - 1, 0, 1, key="gen_seed", disabled=not sampling,
        help="The same seed and settings give the same text.",
    )  # fmt: skip
    num_beams = cols[0].slider(
        "Beams", 2, 8, 4, key="gen_beams", disabled=strategy != "beam",
        help="How many candidate sequences beam search keeps at every step.",
    )  # fmt: skip
    stop_at_end = cols[1].toggle(
        "Stop at story end", True, key="gen_stop",
        help="Stop when the model writes <|endoftext|>, the end of a story.",
    )  # fmt: skip
    step_mode = st.toggle(
        "Step by step (one token per click)", False, key="gen_step_mode",
        disabled=strategy == "beam",
    )  # fmt: skip
    temperature = _bounded("Temperature", temperature, 0.05, 2.0)
    top_p = _bounded("Top-p", top_p, 0.05, 1.0)
    top_k = _bounded("Top-k", top_k, 0, vocab_size)
    penalty = _bounded("Repetition penalty", penalty, 1.0, 2.0)
    max_new = _bounded("Max new tokens", max_new, 1, MAX_NEW_TOKENS)
    seed = _bounded("Seed", seed, 0, 2**31 - 1)
    num_beams = _bounded("Beams", num_beams, 2, 8)
    if instruction is not None:
        prompt = format_instruction(instruction, prompt or "")
    return {
        "prompt": prompt,
        "strategy": strategy,
        "temperature": float(temperature),
        "top_k": int(top_k) or None,
        "top_p": None if top_p >= 1.0 else float(top_p),
        "repetition_penalty": float(penalty),
        "max_new_tokens": int(max_new),
        "seed": int(seed),
        "num_beams": int(num_beams),
        "stop_at_end": bool(stop_at_end),
        "step_mode": bool(step_mode) and strategy != "beam",
    }


def _prompt_ids(loaded: Any, settings: dict[str, Any]) -> tuple[list[int], str] | None:
    """The prompt's token ids (after ``<|endoftext|>``) and its cleaned text; notes shown."""
    cleaned = common.clean_text(settings["prompt"])
    common.show_notes(cleaned)
    tokenizer, block = loaded.tokenizer, loaded.model.config.block_size
    if cleaned.empty:
        if tokenizer.eos_id is None:
            st.warning("Type a prompt first: this model has no start-of-text token.")
            return None
        st.info("The prompt is empty, so the model starts a new story from <|endoftext|>.")
        return loaded.prompt_ids(""), ""
    ids = loaded.prompt_ids(cleaned.text)
    if len(ids) > block:
        st.info(
            f"The prompt has {len(ids):,} tokens but the model reads at most {block}; "
            f"only its last {block} tokens are used."
        )
        ids = loaded.prompt_ids(cleaned.text, room=block)
    return ids, cleaned.text


def _config(settings: dict[str, Any], eos_id: int | None, max_new: int) -> GenerationConfig:
    return GenerationConfig(
        max_new_tokens=max_new,
        strategy=settings["strategy"],
        temperature=settings["temperature"],
        top_k=settings["top_k"],
        top_p=settings["top_p"],
        repetition_penalty=settings["repetition_penalty"],
        eos_id=eos_id if settings["stop_at_end"] else None,
        seed=settings["seed"],
        top_alternatives=TOP_ALTERNATIVES,
    )


# ------------------------------------------------------------------------------ running
def _run_stream(loaded: Any, ids: list[int], config: GenerationConfig, live: Any) -> dict:
    """Generate token by token (all sessions batched), redrawing ``live`` (an st.empty)."""
    tokenizer = loaded.tokenizer
    watch = common.Stopwatch()
    steps: list[TokenStep] = []
    last_draw = 0.0
    for step in common.generated_steps(loaded, ids, config):
        steps.append(step)
        watch.tick()
        # Redrawing after every token would spend more time on messages than on the model;
        # a dozen frames a second looks just as live.
        if live is not None and time.perf_counter() - last_draw >= REDRAW_SECONDS:
            text = _continuation(tokenizer, steps, config.eos_id, final=False)
            live.markdown(f":blue[{_escape(text)}] ▌  \n*{watch.rate:.0f} tokens/s*")
            last_draw = time.perf_counter()
    return {
        "steps": steps,
        "text": _continuation(tokenizer, steps, config.eos_id, final=True),
        "rate": watch.rate,
        "eos_id": config.eos_id,
    }


def _show_inspector(tokenizer: Any, result: dict, run_id: int) -> None:
    steps: list[TokenStep] = result["steps"]
    if not steps:
        return
    pick = len(steps)
    if len(steps) > 1:
        pick = st.slider(
            "Inspect the step that chose token number…", 1, len(steps), len(steps),
            key=f"gen_pick_{run_id}",
        )  # fmt: skip
    step = steps[pick - 1]
    chosen = visible(_label(tokenizer, step.token_id))
    st.caption(
        f"Token {pick}: “{chosen}”: probability {step.raw_prob:.3f} under the model, "
        f"{step.prob:.3f} after the settings. Grey bars: the model's own distribution; orange: "
        "after repetition penalty, temperature, top-k and top-p; red: the token chosen."
    )
    figure = next_token_bars(step, lambda i: _label(tokenizer, i))
    st.plotly_chart(figure, key=f"gen_bars_{run_id}_{pick}")


def _show_result(tokenizer: Any, result: dict, prompt: str) -> None:
    steps = result["steps"]
    cols = st.columns(3)
    cols[0].metric("Tokens", len(steps))
    cols[1].metric("Tokens per second", f"{result['rate']:.0f}")
    ended = bool(steps) and steps[-1].token_id == result["eos_id"]
    cols[2].metric("Story ended", "yes" if ended else "no")
    if prompt:  # plain text: a prompt's Markdown (images, links, :red[…]) is not rendered
        st.text(f"Prompt: {prompt[:300]}{'…' if len(prompt) > 300 else ''}")
    st.code(result["text"] or "(nothing before the end of the story)", language=None,
            wrap_lines=True)  # fmt: skip
    if len(steps) > 1:
        confidence = token_confidence(steps, lambda i: _label(tokenizer, i))
        st.plotly_chart(confidence, key=f"gen_confidence_{result['run_id']}")
    st.fragment(_show_inspector)(tokenizer, result, result["run_id"])


def _next_run_id() -> int:
    st.session_state.gen_runs = st.session_state.get("gen_runs", 0) + 1
    return st.session_state.gen_runs


def _streamed(loaded: Any, ids: list[int], prompt: str, settings: dict, key: tuple) -> None:
    clicked = st.button("Generate", type="primary", key="gen_go")
    output = st.empty()
    if clicked:
        config = _config(settings, loaded.tokenizer.eos_id, settings["max_new_tokens"])
        with common.guarded("generating text"):
            result = _run_stream(loaded, ids, config, output)
            result.update(key=key, prompt=prompt, run_id=_next_run_id())
            st.session_state.gen_result = result
    result = st.session_state.get("gen_result")
    if result is None:
        output.info("Press **Generate** to continue the prompt.")
        return
    with output.container():
        if result["key"] != key:
            st.caption("These results are from your last run; the settings have changed since.")
        _show_result(loaded.tokenizer, result, result["prompt"])


def _step_by_step(loaded: Any, ids: list[int], prompt: str, settings: dict, key: tuple) -> None:
    state = st.session_state.get("gen_step_state")
    if state is None or state["key"] != key:
        state = {"key": key, "result": None}
        st.session_state.gen_step_state = state
    done = state["result"]["steps"] if state["result"] else []
    cols = st.columns(2)
    advance = cols[0].button("Next token ▶", type="primary", key="gen_next")
    if cols[1].button("Start over", key="gen_reset"):
        state["result"], done, advance = None, [], False
    eos_id = loaded.tokenizer.eos_id if settings["stop_at_end"] else None
    finished = bool(done) and done[-1].token_id == eos_id
    if advance and finished:
        st.info("The story has ended. Press **Start over** to begin again.")
    elif advance and len(done) >= settings["max_new_tokens"]:
        st.info("That is the most new tokens allowed; raise **Max new tokens** to go on.")
    elif advance:
        # Regenerating from the prompt (instead of storing a paused generator) makes step mode
        # give exactly the tokens of a full run with the same seed; a few ms per token.
        config = _config(settings, loaded.tokenizer.eos_id, len(done) + 1)
        with common.guarded("generating the next token"):
            result = _run_stream(loaded, ids, config, None)
            result.update(key=key, prompt=prompt, run_id=_next_run_id())
            state["result"] = result
    if state["result"] is None:
        st.info("Press **Next token** to let the model choose one token at a time.")
        return
    _show_result(loaded.tokenizer, state["result"], prompt)


def _beam(loaded: Any, ids: list[int], prompt: str, settings: dict, key: tuple) -> None:
    max_new = min(settings["max_new_tokens"], BEAM_MAX_NEW_TOKENS)
    if settings["max_new_tokens"] > BEAM_MAX_NEW_TOKENS:
        st.caption(f"Beam search stops after {BEAM_MAX_NEW_TOKENS} new tokens on this page.")
    if st.button("Run beam search", type="primary", key="gen_beam_go"):
        eos_id = loaded.tokenizer.eos_id if settings["stop_at_end"] else None
        with common.guarded("running beam search"), common.work_slot("beam search"):
            started = time.perf_counter()
            result = beam_search(
                loaded.model, ids, num_beams=settings["num_beams"], max_new_tokens=max_new,
                eos_id=eos_id,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            st.session_state.gen_beam = {
                "key": key, "result": result, "prompt_len": len(ids), "eos_id": eos_id,
                "seconds": seconds, "prompt": prompt,
            }  # fmt: skip
    saved = st.session_state.get("gen_beam")
    if saved is None:
        st.info("Press **Run beam search** to see the best continuations and the search tree.")
        return
    if saved["key"] != key:
        st.caption("These results are from your last run; the settings have changed since.")
    _show_beams(loaded.tokenizer, saved)


def _show_beams(tokenizer: Any, saved: dict) -> None:
    result, start, eos_id = saved["result"], saved["prompt_len"], saved["eos_id"]
    rows = []
    for rank, (seq, score, length) in enumerate(
        zip(result.sequences.tolist(), result.scores.tolist(), result.lengths, strict=True)
    ):
        new = [t for t in seq[start : start + length] if t != eos_id]
        rows.append({"rank": rank + 1, "score": round(score, 4), "tokens": length,
                     "text": tokenizer.decode(new)})  # fmt: skip
    cols = st.columns(2)
    cols[0].metric("Tree nodes", len(result.tree))
    cols[1].metric("Seconds", f"{saved['seconds']:.2f}")
    if saved["prompt"]:
        st.text(f"Prompt: {saved['prompt'][:300]}{'…' if len(saved['prompt']) > 300 else ''}")
    st.code(rows[0]["text"] or "(the story ends at once)", language=None, wrap_lines=True)
    st.dataframe(rows, hide_index=True)
    st.caption(
        "Score = total log-probability / length (length penalty 1). In the tree, red is the "
        "best sequence, filled dots were kept, diamonds finished, hollow dots were dropped; "
        "hover over any dot to see its token and scores."
    )
    st.plotly_chart(beam_tree(result, lambda i: tokenizer.id_to_token(i)), key="gen_tree")


# ------------------------------------------------------------------------------ the page
st.title("✍️ Generate")
st.markdown(
    "Continue a story with a small GPT. Change the strategy and the knobs, then open any step to "
    "see which tokens the model considered and how your settings reshaped its choice."
)
names = common.model_names("causal-lm")
if not names:
    st.warning("No text-generation model is installed. Reinstall lmkit to get tiny-gpt.")
    st.stop()

left, right = st.columns([1, 2], gap="large")
with left:
    model_name = st.selectbox("Model", names, key="gen_model")
    loaded = None
    with common.guarded("loading the model"):
        loaded = common.load_builtin(model_name)
    if loaded is None:
        st.stop()
    settings = _controls(loaded.tokenizer.vocab_size, model_info(model_name).instruction_tuned)

with right:
    prepared = _prompt_ids(loaded, settings)
    if prepared is not None:
        ids, prompt_text = prepared
        run_key = (
            model_name,
            tuple(ids),
            *(v for k, v in sorted(settings.items()) if k != "prompt"),
        )
        if settings["strategy"] == "beam":
            _beam(loaded, ids, prompt_text, settings, run_key)
        elif settings["step_mode"]:
            _step_by_step(loaded, ids, prompt_text, settings, run_key)
        else:
            _streamed(loaded, ids, prompt_text, settings, run_key)

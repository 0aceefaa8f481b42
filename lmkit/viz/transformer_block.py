"""An interactive GPT block diagram: hover a box to see the shapes that really flowed through it.

Introduced in chapter 7. :func:`trace_gpt` runs one forward pass of a
:class:`~lmkit.gpt.model.GPT` with forward hooks on its parts (embeddings, the pieces of every
block, the final layer norm and the head) and records the shape of each part's input and output,
plus the parameters each part owns. :func:`transformer_block_diagram` draws block 0 in detail
(every block has the same shapes) with the embeddings above and the output layer below; hovering
a box shows its shapes and parameter count. Tied weights are counted once, in the token
embedding, so the counts of all boxes add up to ``model.num_parameters()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.model import GPT
from lmkit.viz.diagram import Arrow, Box, diagram

__all__ = ["TracedPart", "trace_gpt", "transformer_block_diagram"]

Shape = tuple[int, ...]

# (box key, path inside block 0 or the model, label, what it computes); None: not a module
_EMBEDDING_PARTS = (("wte", "wte", "token embedding<br>wte"), ("wpe", "wpe", "position<br>wpe"))
_BLOCK_PARTS = (
    ("ln_1", "ln_1", "ln_1<br>LayerNorm"),
    ("c_attn", "attn.c_attn", "c_attn<br>x → q, k, v"),
    ("attn", "attn", "attention<br>softmax(QKᵀ/√d)V"),
    ("attn_proj", "attn.c_proj", "c_proj<br>heads → C"),
    ("ln_2", "ln_2", "ln_2<br>LayerNorm"),
    ("c_fc", "mlp.c_fc", "c_fc + GELU<br>C → 4C"),
    ("mlp_proj", "mlp.c_proj", "c_proj<br>4C → C"),
)
_OUTPUT_PARTS = (
    ("ln_f", "ln_f", "ln_f<br>final LayerNorm"),
    ("lm_head", "lm_head", "lm_head<br>C → V"),
)


@dataclass(frozen=True)
class TracedPart:
    """One module seen in a forward pass: where it sits, what went in and out, what it owns.

    ``inputs`` holds a shape per tensor argument and the value of each integer argument (the
    position embedding is called with the sequence length); ``parameters`` counts only weights
    not already owned by an earlier part (the tied output head owns none). For a block part,
    ``layers`` is how many blocks have it; ``parameters`` is the total over all of them.
    """

    path: str
    kind: str
    inputs: tuple[Shape | int, ...]
    output: Shape
    parameters: int
    layers: int = 1


def _described(value: object) -> Shape | int | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _first_tensor(output: object) -> torch.Tensor:
    # Blocks and attention return (tensor, attention weights or None)
    return output[0] if isinstance(output, tuple) else output


def _check_model(model: object) -> None:
    if not isinstance(model, GPT):
        raise InputError(
            f"expected an lmkit GPT (lmkit.gpt.model.GPT), got {type(model).__name__}."
        )


def trace_gpt(model: torch.nn.Module, input_ids: torch.Tensor) -> dict[str, TracedPart]:
    """Run ``model(input_ids)`` once with forward hooks and describe every drawn part.

    Keys are the diagram's box keys (``"wte"``, ``"ln_1"``, ``"c_attn"``, …, ``"lm_head"``).
    The block parts describe block 0 and raise :class:`ConfigError` if another block saw other
    shapes (it cannot happen in a GPT; the check keeps the diagram honest). The model's
    train/eval mode is restored. Introduced in chapter 7.
    """
    _check_model(model)
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise InputError(
            f"input_ids must be a (B, T) tensor of token ids, got "
            f"{tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__}."
        )
    modules = dict(model.named_modules())
    seen: dict[str, tuple[tuple[Shape | int, ...], Shape]] = {}

    def hook_for(path: str):
        def hook(module, args, output):
            inputs = tuple(d for d in map(_described, args) if d is not None)
            seen[path] = (inputs, tuple(_first_tensor(output).shape))

        return hook

    paths = [p for _, p, _ in _EMBEDDING_PARTS + _OUTPUT_PARTS if modules.get(p) is not None]
    layers = len(model.blocks)
    paths += [f"blocks.{i}.{p}" for i in range(layers) for _, p, _ in _BLOCK_PARTS]
    handles = [modules[p].register_forward_hook(hook_for(p)) for p in paths]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(input_ids.to(model.device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    counted: set[int] = set()

    def own_parameters(module: torch.nn.Module) -> int:
        total = 0
        for p in module.parameters():
            if id(p) not in counted:  # a tied weight belongs to the part that came first
                counted.add(id(p))
                total += p.numel()
        return total

    parts: dict[str, TracedPart] = {}
    for key, path, _ in _EMBEDDING_PARTS:
        if path in seen:
            module = modules[path]
            parts[key] = TracedPart(
                path, type(module).__name__, *seen[path], own_parameters(module)
            )
    for key, path, _ in _BLOCK_PARTS:
        first = seen[f"blocks.0.{path}"]
        if any(seen[f"blocks.{i}.{path}"] != first for i in range(layers)):
            raise ConfigError(f"the blocks' {path} saw different shapes; cannot draw one block.")
        # the attention box owns no weights of its own: its projections are their own boxes
        counts = 0
        if key != "attn":
            counts = sum(own_parameters(modules[f"blocks.{i}.{path}"]) for i in range(layers))
        kind = type(modules[f"blocks.0.{path}"]).__name__
        parts[key] = TracedPart(f"blocks.0.{path}", kind, *first, counts, layers)
    for key, path, _ in _OUTPUT_PARTS:
        module = modules[path]
        parts[key] = TracedPart(path, type(module).__name__, *seen[path], own_parameters(module))
    return parts


def _shape_text(value: Shape | int) -> str:
    return str(value)


def _hover(title: str, part: TracedPart, note: str = "") -> str:
    inputs = ", ".join(_shape_text(v) for v in part.inputs)
    count = f"parameters: {part.parameters:,}"
    if part.layers > 1:
        count += f" ({part.parameters // part.layers:,} per block × {part.layers} blocks)"
    lines = [f"<b>{title}</b>", f"{part.path} ({part.kind})", f"in: {inputs}",
             f"out: {_shape_text(part.output)}", count]  # fmt: skip
    return "<br>".join(lines + ([note] if note else []))


def transformer_block_diagram(
    model: torch.nn.Module, input_ids: torch.Tensor, *, title: str | None = None
) -> go.Figure:
    """A GPT drawn as boxes (embeddings, block 0 in detail, output layer); hover shows shapes.

    The shapes come from one real forward pass on ``input_ids`` (:func:`trace_gpt`) and the
    parameter counts from the modules; the residual additions ("+") own no parameters. Each
    box's hover text is in ``fig.data[0].hovertext``, keyed by ``fig.data[0].customdata``.
    Introduced in chapter 7.
    """
    parts = trace_gpt(model, input_ids)
    config = model.config
    n_head, layers = config.n_head, len(model.blocks)
    qkv = parts["c_attn"].output
    b, t, three_c = qkv
    head_shape = (b, n_head, t, three_c // 3 // n_head)
    notes = {
        "c_attn": f"split into q, k, v, each {n_head} heads of shape {head_shape}",
        "attn": f"inside: per-head scores {(b, n_head, t, t)}, causal mask, softmax; "
        f"heads concatenated back to {(b, t, three_c // 3)}. Its weights are c_attn and c_proj.",
        "wpe": "called with (sequence length, offset): a slice of its table, no lookup",
        "lm_head": "tied to wte: the same matrix, counted there"
        if config.tie_weights else "",
    }  # fmt: skip
    boxes = [Box("ids", "token ids", x=0, y=11.2, w=1.8, h=0.6, color="#fdf2d0")]
    hover = {"ids": f"<b>token ids</b><br>out: {tuple(input_ids.shape)}<br>parameters: 0"}
    place = {"wte": (0, 10), "wpe": (3.2, 11.2), "ln_1": (0, 8.4), "c_attn": (0, 7.3),
             "attn": (0, 6.2), "attn_proj": (0, 5.1), "ln_2": (0, 3.9), "c_fc": (0, 2.8),
             "mlp_proj": (0, 1.7), "ln_f": (3.2, 0.3), "lm_head": (3.2, -0.8)}  # fmt: skip
    colours = {"wte": "#dbe9f6", "wpe": "#dbe9f6", "attn": "#f8dede", "c_fc": "#e3f1e0"}
    for key, _, label in _EMBEDDING_PARTS + _BLOCK_PARTS + _OUTPUT_PARTS:
        if key in parts:
            x, y = place[key]
            boxes.append(Box(key, label, x=x, y=y, w=2.4, h=0.75,
                             color=colours.get(key, "#eef2f7")))  # fmt: skip
            hover[key] = _hover(label.replace("<br>", " · "), parts[key], notes.get(key, ""))
    stream = parts["ln_1"].inputs[0]
    for key, y, what in (("embed_add", 10, "token + position embedding"),
                         ("add_1", 5.1, "x + attention(ln_1(x))"),
                         ("add_2", 1.7, "x + MLP(ln_2(x))")):  # fmt: skip
        boxes.append(Box(key, "+", x=3.2, y=y, w=0.6, h=0.6, color="#fff"))
        shape = parts["ln_2"].inputs[0] if key == "add_1" else stream
        if key == "add_2":
            shape = parts["ln_f"].inputs[0]
        hover[key] = f"<b>residual add</b><br>{what}<br>out: {_shape_text(shape)}<br>parameters: 0"
    arrows = [Arrow("ids", "wte"), Arrow("wte", "embed_add"), Arrow("embed_add", "ln_1"),
              Arrow("ln_1", "c_attn"), Arrow("c_attn", "attn"),
              Arrow("attn", "attn_proj"), Arrow("attn_proj", "add_1"),
              Arrow("embed_add", "add_1", label="residual", dashed=True),
              Arrow("add_1", "ln_2"), Arrow("ln_2", "c_fc"), Arrow("c_fc", "mlp_proj"),
              Arrow("mlp_proj", "add_2"), Arrow("add_1", "add_2", label="residual", dashed=True),
              Arrow("add_2", "ln_f"), Arrow("ln_f", "lm_head")]  # fmt: skip
    if "wpe" in parts:
        arrows.append(Arrow("wpe", "embed_add"))
    fig = diagram(boxes, arrows, height=800, title=title or (
        f"GPT (n_layer={layers}, n_embd={config.n_embd}, n_head={n_head}): "
        f"{model.num_parameters():,} parameters. Hover a box."))  # fmt: skip
    # the block: a dashed frame around block 0's parts
    fig.add_shape(type="rect", x0=-1.45, x1=3.75, y0=1.15, y1=8.95, layer="below",
                  line={"color": "#888", "dash": "dot", "width": 1})  # fmt: skip
    fig.add_annotation(x=4.0, y=8.7, text=f"Block × {layers}<br>(block 0 shown)",
                       showarrow=False, xanchor="left", font={"size": 12, "color": "#555"})  # fmt: skip
    fig.add_annotation(x=4.5, y=-0.8, text="→ logits", showarrow=False, xanchor="left",
                       font={"size": 12, "color": "#555"})  # fmt: skip
    keys = [box.key for box in boxes]
    fig.add_trace(
        go.Scatter(
            x=[box.x for box in boxes], y=[box.y for box in boxes], mode="markers",
            marker={"size": 40, "symbol": "square", "opacity": 0},
            hovertext=[hover[k] for k in keys], hoverinfo="text", customdata=keys,
            showlegend=False,
        )
    )  # fmt: skip
    right = fig.layout.xaxis.range
    fig.update_xaxes(range=[right[0], right[1] + 1.8])
    return fig

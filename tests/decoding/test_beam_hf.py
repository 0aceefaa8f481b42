"""lmkit's beam search equals transformers' on the same weights, for every length penalty and
end-of-sequence choice (needs the ``hf`` extra)."""

from __future__ import annotations

import pytest
import torch
from model_factories import random_gpt as make_model

from lmkit.decoding.beam import beam_search
from lmkit.gpt.model import GPT

pytest.importorskip("transformers")
from lmkit.gpt.interop import to_hf

PROMPT = torch.tensor([[5, 9, 2, 33]])


def hf_beam(model: GPT, prompt: torch.Tensor, num_beams: int, new: int, **kwargs):
    hf = to_hf(model).eval()
    return hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=new,
        do_sample=False,
        num_beams=num_beams,
        num_return_sequences=num_beams,
        output_scores=True,
        return_dict_in_generate=True,
        **kwargs,
    )


# ----------------------------------------------------------------------------- HF parity
@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
def test_matches_hugging_face_without_eos(length_penalty: float) -> None:
    model = make_model(1)
    ours = beam_search(model, PROMPT, num_beams=4, max_new_tokens=8, length_penalty=length_penalty)
    ref = hf_beam(model, PROMPT, 4, 8, length_penalty=length_penalty, pad_token_id=0)
    assert torch.equal(ours.sequences, ref.sequences)
    torch.testing.assert_close(ours.scores, ref.sequences_scores)


@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_matches_hugging_face_with_every_eos_choice(length_penalty: float) -> None:
    # Every token as eos once: some make hypotheses stop early, some trip HF's rules that only
    # the top num_beams candidates may finish and that the search stops once no running beam
    # can beat the worst finished one.
    model = make_model(2)
    hf = to_hf(model).eval()
    stopped_early = 0
    for eos in range(model.config.vocab_size):
        ours = beam_search(
            model, PROMPT, num_beams=3, max_new_tokens=10, length_penalty=length_penalty, eos_id=eos
        )
        ref = hf.generate(
            PROMPT,
            attention_mask=torch.ones_like(PROMPT),
            max_new_tokens=10,
            do_sample=False,
            num_beams=3,
            num_return_sequences=3,
            length_penalty=length_penalty,
            eos_token_id=eos,
            pad_token_id=eos,
            output_scores=True,
            return_dict_in_generate=True,
        )
        assert torch.equal(ours.sequences, ref.sequences), eos
        torch.testing.assert_close(ours.scores, ref.sequences_scores)
        stopped_early += min(ours.lengths) < 10
    assert stopped_early >= 5  # eos really mattered in a good share of the cases

"""The encoder–decoder Transformer against torch.nn's attention and Transformer layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.seq2seq.config import Seq2SeqConfig
from lmkit.seq2seq.model import CachedAttention, DecoderLayer, EncoderLayer, Seq2SeqTransformer

D, H, FF = 16, 4, 32


def small_config(**overrides) -> Seq2SeqConfig:
    settings = dict(vocab_size=40, d_model=D, n_heads=H, n_encoder_layers=2, n_decoder_layers=2,
                    d_ff=FF, max_source_len=12, max_target_len=10, dropout=0.0, pad_id=0,
                    bos_id=1, eos_id=2)  # fmt: skip
    return Seq2SeqConfig(**{**settings, **overrides})


def random_model(seed: int = 0, **overrides) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(small_config(**overrides)).eval()
    with torch.no_grad():  # larger than the initialisation, so the layers matter
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def torch_attention(seed: int) -> tuple[nn.MultiheadAttention, CachedAttention]:
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(D, H, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_bias.normal_()
        reference.out_proj.bias.normal_()
    return reference, CachedAttention(D, H).load_from_torch(reference).eval()


def test_cross_attention_matches_torch_multihead_attention_with_padding():
    reference, ours = torch_attention(1)
    query, memory = torch.randn(3, 5, D), torch.randn(3, 7, D)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[1, 4:] = True
    padding[2, 1:] = True
    want, want_weights = reference(
        query, memory, memory, key_padding_mask=padding, average_attn_weights=False
    )
    got, weights = ours.attend(query, ours.keys_values(memory), key_padding_mask=padding)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, want_weights, atol=1e-6, rtol=1e-5)
    assert float(weights[1, :, :, 4:].detach().abs().max()) == 0.0  # padding gets no attention


def test_causal_self_attention_matches_torch_with_a_causal_mask():
    reference, ours = torch_attention(2)
    x = torch.randn(2, 6, D)
    blocked = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)  # torch: True = blocked
    want, want_weights = reference(x, x, x, attn_mask=blocked, average_attn_weights=False)
    got, weights = ours.attend(x, ours.keys_values(x), causal=True)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, want_weights, atol=1e-6, rtol=1e-5)


def copy_mlp_and_norms(ours: nn.Module, reference: nn.Module, norms: int) -> None:
    with torch.no_grad():
        for i in range(1, norms + 1):
            getattr(ours, f"norm{i}").load_state_dict(getattr(reference, f"norm{i}").state_dict())
        ours.mlp.linear1.load_state_dict(reference.linear1.state_dict())
        ours.mlp.linear2.load_state_dict(reference.linear2.state_dict())


def randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.3)


def test_encoder_layer_matches_torch_transformer_encoder_layer():
    torch.manual_seed(3)
    reference = nn.TransformerEncoderLayer(
        D, H, FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    randomize(reference)
    reference.train()  # the training path: eval mode may take torch's fused fast path
    ours = EncoderLayer(small_config())
    ours.self_attn.load_from_torch(reference.self_attn)
    copy_mlp_and_norms(ours, reference, 2)
    x = torch.randn(2, 7, D)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[0, 5:] = True
    want = reference(x, src_key_padding_mask=padding)
    torch.testing.assert_close(ours(x, padding), want, atol=1e-5, rtol=1e-4)


def test_decoder_layer_matches_torch_transformer_decoder_layer():
    torch.manual_seed(4)
    reference = nn.TransformerDecoderLayer(
        D, H, FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    randomize(reference)
    ours = DecoderLayer(small_config())
    ours.self_attn.load_from_torch(reference.self_attn)
    ours.cross_attn.load_from_torch(reference.multihead_attn)
    copy_mlp_and_norms(ours, reference, 3)
    y, memory = torch.randn(2, 5, D), torch.randn(2, 8, D)
    padding = torch.zeros(2, 8, dtype=torch.bool)
    padding[1, 3:] = True
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    want = reference(y, memory, tgt_mask=causal, memory_key_padding_mask=padding)
    got, _, cross = ours(y, ours.cross_attn.keys_values(memory), padding)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert cross.shape == (2, H, 5, 8)
    torch.testing.assert_close(cross.sum(-1), torch.ones(2, H, 5))


def test_teacher_forced_logits_equal_incremental_decode_steps():
    model = random_model(5)
    src = torch.tensor([[5, 6, 7, 8, 9, 2], [10, 11, 2, 0, 0, 0]])
    tgt = torch.tensor([[1, 3, 4, 5, 6], [1, 7, 8, 9, 10]])
    full = model(src, src != 0, tgt)
    state = model.encode(src, src != 0)
    steps = [model.decode_step(state, tgt[:, t]) for t in range(tgt.shape[1])]
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    crosses = model.cross_attention(src, src != 0, tgt)
    torch.testing.assert_close(state.cross_attention, crosses[-1][:, :, -1:], atol=1e-6, rtol=1e-5)


def test_padding_does_not_change_a_sources_logits():
    model = random_model(6)
    alone = model(torch.tensor([[10, 11, 2]]), None, torch.tensor([[1, 4, 5]]))
    src = torch.tensor([[10, 11, 2, 0, 0], [3, 4, 5, 6, 2]])
    batched = model(src, src != 0, torch.tensor([[1, 4, 5], [1, 6, 7]]))
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=1e-5)


def test_reordered_state_continues_like_the_rows_it_copies():
    model = random_model(7)
    src = torch.tensor([[5, 6, 2], [7, 8, 2]])
    state = model.encode(src)
    model.decode_step(state, torch.tensor([1, 1]))
    swapped = state.reorder(torch.tensor([1, 0, 1]))
    logits = model.decode_step(swapped, torch.tensor([4, 4, 4]))
    straight = model.decode_step(state, torch.tensor([4, 4]))
    torch.testing.assert_close(logits, straight[[1, 0, 1]], atol=1e-5, rtol=1e-5)


def test_loss_is_the_cross_entropy_of_the_scored_labels():
    model = random_model(8)
    src, tgt = torch.tensor([[5, 6, 2]]), torch.tensor([[1, 4, 5]])
    labels = torch.tensor([[4, 5, -100]])
    logits, loss = model(src, None, tgt, labels)
    want = nn.functional.cross_entropy(logits[0, :2], labels[0, :2])
    torch.testing.assert_close(loss, want)


def test_embeddings_are_tied_and_positions_are_not_weights():
    model = random_model(9)
    matrices = [k for k, v in model.state_dict().items() if v.shape[0] == 40]
    assert matrices == ["embed.weight"]
    logits = model(torch.tensor([[5, 2]]), None, torch.tensor([[1]]))
    with torch.no_grad():
        model.embed.weight[7] += 1.0  # the output row of token 7 moves with its embedding
    assert not torch.allclose(
        model(torch.tensor([[5, 2]]), None, torch.tensor([[1]]))[..., 7], logits[..., 7]
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"d_model": 18}, "divisible by n_heads"),
        ({"pad_id": 40}, "pad_id"),
        ({"eos_id": 1}, "three different ids"),
        ({"dropout": 1.5}, "dropout"),
        ({"n_encoder_layers": 0}, "n_encoder_layers"),
    ],
)
def test_config_refuses_bad_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        small_config(**overrides)


def test_config_round_trips_and_refuses_unknown_fields():
    config = small_config()
    assert Seq2SeqConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="Unknown"):
        Seq2SeqConfig.from_dict({**config.to_dict(), "n_layer": 2})


def test_model_refuses_bad_inputs():
    model = random_model(10)
    with pytest.raises(InputError, match="takes 1 to 12"):
        model(torch.ones(1, 13, dtype=torch.long), None, torch.tensor([[1]]))
    with pytest.raises(InputError, match="int64"):
        model(torch.ones(1, 3), None, torch.tensor([[1]]))
    with pytest.raises(InputError, match="outside"):
        model(torch.tensor([[40, 2]]), None, torch.tensor([[1]]))
    with pytest.raises(InputError, match="no real token"):
        model(torch.tensor([[3, 2]]), torch.zeros(1, 2), torch.tensor([[1]]))
    with pytest.raises(InputError, match="batch size"):
        model(torch.tensor([[3, 2]]), None, torch.tensor([[1], [1]]))

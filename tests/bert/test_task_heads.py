"""The token-classification and span-QA heads against transformers' on the same random weights
(logits and losses), and the LoRA task-adapter folder: round trip, merge, damaged files."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from model_factories import bert_batch, random_bert

from lmkit.bert.adapter import BERT_TARGETS, load_folder, save_folder, task_model_from_base
from lmkit.bert.model import IGNORE_INDEX, BertEncoder
from lmkit.bert.task_heads import BertForQuestionAnswering, BertForTokenClassification
from lmkit.errors import CheckpointError, ConfigError, InputError
from lmkit.hub import load
from lmkit.nn.lora import add_lora

TAGS = ("O", "B-PER", "I-PER")


def _hf_twin(model, hf_class_name):
    """The transformers model with our encoder's weights (through to_hf) and our head's."""
    transformers = pytest.importorskip("transformers")
    from lmkit.bert.interop import hf_config, to_hf

    encoder = BertEncoder(model.config, pooler=True).eval()
    encoder.load_state_dict(model.bert.state_dict(), strict=False)  # the pooler is unused
    config = hf_config(encoder.config)
    config.num_labels = 2 if hf_class_name == "BertForQuestionAnswering" else len(TAGS)
    hf = getattr(transformers, hf_class_name)._from_config(config, attn_implementation="eager")
    hf.bert.load_state_dict(to_hf(encoder).state_dict(), strict=False)
    head = model.classifier if hasattr(model, "classifier") else model.qa_outputs
    hf_head = hf.classifier if hasattr(hf, "classifier") else hf.qa_outputs
    hf_head.load_state_dict(head.state_dict())
    return hf.eval()


def test_token_classifier_matches_transformers():
    model = random_bert(BertForTokenClassification, labels=TAGS)
    reference = _hf_twin(model, "BertForTokenClassification")
    ids, mask, types = bert_batch()
    labels = torch.randint(0, len(TAGS), ids.shape, generator=torch.Generator().manual_seed(3))
    labels[mask == 0] = IGNORE_INDEX
    ours = model(ids, mask, token_type_ids=types, labels=labels)
    theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    real = mask.bool()
    torch.testing.assert_close(ours.logits[real], theirs.logits[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=1e-5, rtol=0)


def test_span_head_matches_transformers():
    model = random_bert(BertForQuestionAnswering, labels=())
    reference = _hf_twin(model, "BertForQuestionAnswering")
    ids, mask, types = bert_batch()
    starts, ends = torch.tensor([1, 3, 0]), torch.tensor([2, 5, 1])
    ours = model(ids, mask, token_type_ids=types, start_positions=starts, end_positions=ends)
    theirs = reference(
        input_ids=ids, attention_mask=mask, token_type_ids=types,
        start_positions=starts, end_positions=ends,
    )  # fmt: skip
    real = mask.bool()
    torch.testing.assert_close(
        ours.start_logits[real], theirs.start_logits[real], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(ours.end_logits[real], theirs.end_logits[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=1e-5, rtol=0)


def test_heads_reject_bad_settings_and_inputs():
    with pytest.raises(ConfigError, match="at least two labels"):
        random_bert(BertForTokenClassification, labels=("O",))
    model = random_bert(BertForQuestionAnswering, labels=())
    ids, _, _ = bert_batch()
    with pytest.raises(InputError, match="both"):
        model(ids, start_positions=torch.zeros(3, dtype=torch.long))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny-bert tagger with random (nonzero) adapters, saved and loaded back."""
    torch.manual_seed(0)
    base = load("tiny-bert", device="cpu").model
    model = task_model_from_base("bert-lora-tagger", base, TAGS)
    add_lora(model.bert, r=2, alpha=4.0, targets=BERT_TARGETS)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    folder = save_folder(
        model, tmp_path_factory.mktemp("tagger"), model_type="bert-lora-tagger",
        base_model="tiny-bert", r=2, alpha=4.0, targets=BERT_TARGETS,
    )  # fmt: skip
    return model.eval(), folder


def test_the_folder_loads_merged_and_gives_the_same_logits(tuned):
    model, folder = tuned
    loaded, tokenizer = load_folder(folder, torch.device("cpu"))
    ids = torch.tensor([tokenizer.encode("Tom went to Beijing.")])
    # float16 storage of the adapters costs a little precision, nothing more
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=2e-3, rtol=0)
    assert type(loaded) is BertForTokenClassification and loaded.labels == TAGS
    assert not any("lora" in name for name, _ in loaded.named_parameters())


@pytest.mark.parametrize("damage", ["truncate_adapter", "drop_head", "bad_config", "wrong_rank"])
def test_damaged_folders_are_checkpoint_errors(tuned, tmp_path, damage):
    _, folder = tuned
    copy = shutil.copytree(folder, tmp_path / "copy")
    if damage == "truncate_adapter":
        data = (copy / "adapter.safetensors").read_bytes()
        (copy / "adapter.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "drop_head":
        (copy / "head.safetensors").unlink()
    else:
        config = json.loads((copy / "config.json").read_text())
        if damage == "bad_config":
            del config["targets"]
        else:
            config["r"] = 4
        (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError):
        load_folder(copy, torch.device("cpu"))

"""lmkit.basics.classify: metrics agree with scikit-learn and hand counts; fit/predict work for any model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lmkit.basics import classify
from lmkit.errors import ConfigError, InputError

labels_and_predictions = st.integers(2, 4).flatmap(
    lambda c: st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, c - 1), min_size=n, max_size=n),
            st.lists(st.integers(0, c - 1), min_size=n, max_size=n),
            st.just(c),
        )
    )
)


# ----------------------------------------------------------------------------- metrics
def test_confusion_matrix_counts_by_hand():
    predictions = [0, 1, 1, 2, 0, 2, 2]
    labels = [0, 1, 0, 2, 2, 1, 2]
    matrix = classify.confusion_matrix(predictions, labels)
    expected = torch.zeros(3, 3, dtype=torch.long)
    for p, t in zip(predictions, labels, strict=True):
        expected[t, p] += 1  # rows: true class, columns: predicted
    assert torch.equal(matrix, expected)
    assert classify.confusion_matrix([0], [0], num_classes=3).shape == (3, 3)


def test_binary_metrics_by_hand():
    # TP = 3, FP = 1, FN = 2, TN = 4
    labels = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    predictions = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    p, r, f1 = classify.precision_recall_f1(predictions, labels, average="binary")
    assert (p, r) == (pytest.approx(3 / 4), pytest.approx(3 / 5))
    assert f1 == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))  # F1 = 2TP / (2TP + FP + FN)
    assert classify.accuracy(predictions, labels) == pytest.approx(7 / 10)


@settings(max_examples=60, deadline=None)
@given(labels_and_predictions)
def test_metrics_match_scikit_learn(data):
    from sklearn import metrics  # a dev dependency: the reference
    predictions, labels, num_classes = data
    every = list(range(num_classes))
    assert classify.accuracy(predictions, labels) == pytest.approx(
        metrics.accuracy_score(labels, predictions)
    )
    assert classify.confusion_matrix(predictions, labels, num_classes).tolist() == (
        metrics.confusion_matrix(labels, predictions, labels=every).tolist()
    )
    for average in ("macro", "micro", "weighted"):
        ours = classify.precision_recall_f1(
            predictions, labels, average=average, num_classes=num_classes
        )
        theirs = metrics.precision_recall_fscore_support(
            labels, predictions, average=average, labels=every, zero_division=0
        )[:3]
        assert ours == pytest.approx(theirs)
    per_class = classify.precision_recall_f1(
        predictions, labels, average=None, num_classes=num_classes
    )
    theirs = metrics.precision_recall_fscore_support(
        labels, predictions, average=None, labels=every, zero_division=0
    )[:3]
    for a, b in zip(per_class, theirs, strict=True):
        assert a.tolist() == pytest.approx(b.tolist())
    binary = classify.precision_recall_f1(
        predictions, labels, average="binary", positive=1, num_classes=num_classes
    )
    assert binary == pytest.approx(tuple(float(v[1]) for v in theirs))


@settings(max_examples=60, deadline=None)
@given(labels_and_predictions)
def test_metric_properties(data):
    predictions, labels, num_classes = data
    matrix = classify.confusion_matrix(predictions, labels, num_classes)
    assert int(matrix.sum()) == len(labels)
    assert int(matrix.trace()) == sum(p == t for p, t in zip(predictions, labels, strict=True))
    micro = classify.precision_recall_f1(predictions, labels, average="micro")
    assert micro == pytest.approx((classify.accuracy(predictions, labels),) * 3)
    for value in classify.precision_recall_f1(predictions, labels, num_classes=num_classes):
        assert 0.0 <= value <= 1.0


def test_classification_report_names_classes_and_counts_support():
    report = classify.classification_report([1, 1, 0, 0], [1, 0, 0, 0], ["neg", "pos"])
    assert report["label_names"] == ["neg", "pos"]
    assert report["per_class"]["neg"]["support"] == 3
    assert report["per_class"]["pos"]["precision"] == pytest.approx(0.5)
    assert report["per_class"]["pos"]["recall"] == pytest.approx(1.0)
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["confusion"].tolist() == [[2, 1], [0, 1]]
    means = [report["per_class"][n]["f1"] for n in ("neg", "pos")]
    assert report["macro_f1"] == pytest.approx(sum(means) / 2)


def test_class_never_predicted_gets_zero_precision_not_nan():
    p, r, f1 = classify.precision_recall_f1([0, 0, 0], [0, 1, 1], average=None)
    assert p.tolist() == [pytest.approx(1 / 3), 0.0]
    assert r.tolist() == [1.0, 0.0] and f1[1] == 0.0


# ----------------------------------------------------------------------------- batching
def test_pad_token_ids_and_collate():
    ids, lengths = classify.pad_token_ids([[5, 6, 7], [8]], pad_id=9)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and lengths.tolist() == [3, 1]
    (ids, lengths), labels = classify.token_collate(0)([([1, 2], 1), ([3], 0)])
    assert ids.tolist() == [[1, 2], [3, 0]] and labels.tolist() == [1, 0]
    assert labels.dtype == torch.long


# ----------------------------------------------------------------------------- training
class MeanOfEmbeddings(nn.Module):
    """A minimal text classifier: average the embeddings of the real tokens."""

    def __init__(self, vocab=6, classes=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, 4)
        self.head = nn.Linear(4, classes)

    def forward(self, ids, lengths):
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).float()
        pooled = (self.embed(ids) * mask[..., None]).sum(1) / lengths[:, None]
        return self.head(pooled)


def _toy_data(n=64, seed=0):
    """Texts made of token 1 are class 0, of token 2 class 1; lengths vary."""
    gen = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(n):
        label = int(torch.randint(0, 2, (1,), generator=gen))
        length = int(torch.randint(1, 6, (1,), generator=gen))
        data.append(([label + 1] * length, label))
    return data


def test_fit_learns_a_separable_task_and_logs_each_epoch():
    torch.manual_seed(0)
    model = MeanOfEmbeddings()
    train, val = _toy_data(64, 0), _toy_data(32, 1)
    history = classify.fit(
        model, train, classify.token_collate(0), val=val, epochs=8, lr=0.05, device="cpu"
    )
    assert [r["epoch"] for r in history] == list(range(1, 9))
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] == 1.0 and history[-1]["val_f1"] == 1.0
    assert {"step", "train_accuracy", "val_loss", "elapsed"} <= set(history[-1])


def test_fit_is_reproducible_and_callback_can_stop():
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = MeanOfEmbeddings()
        runs.append(
            classify.fit(model, _toy_data(), classify.token_collate(0), epochs=2, device="cpu")
        )
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    model = MeanOfEmbeddings()
    history = classify.fit(
        model,
        _toy_data(),
        classify.token_collate(0),
        epochs=5,
        device="cpu",
        callback=lambda r: True,
    )
    assert len(history) == 1


def test_fit_accepts_dict_inputs_and_outputs_with_logits():
    class HFStyle(nn.Module):  # called as model(**inputs), returns an object with .logits
        def __init__(self):
            super().__init__()
            self.inner = MeanOfEmbeddings()

        def forward(self, input_ids, lengths):
            return SimpleNamespace(logits=self.inner(input_ids, lengths))

    def collate(examples):
        (ids, lengths), labels = classify.token_collate(0)(examples)
        return {"input_ids": ids, "lengths": lengths}, labels

    torch.manual_seed(2)
    model = HFStyle()
    history = classify.fit(model, _toy_data(), collate, epochs=6, lr=0.05, device="cpu")
    assert history[-1]["train_accuracy"] > 0.9


def test_predict_and_evaluate_agree_with_a_direct_computation():
    torch.manual_seed(3)
    model = MeanOfEmbeddings(classes=3)
    model.train()
    data = [([1, 2, 3], 2), ([4], 0), ([5, 1], 1), ([2, 2, 2, 2], 2)]
    predictions, probs = classify.predict(model, data, classify.token_collate(0), batch_size=3)
    assert model.training  # mode restored
    (ids, lengths), labels = classify.token_collate(0)(data)
    with torch.no_grad():
        logits = model.eval()(ids, lengths)
    torch.testing.assert_close(probs, logits.softmax(-1))
    assert predictions.tolist() == logits.argmax(-1).tolist()
    report = classify.evaluate(model, data, classify.token_collate(0), label_names=["a", "b", "c"])
    assert report["loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert report["accuracy"] == classify.accuracy(predictions, labels)


# ----------------------------------------------------------------------------- bad input
def test_bad_metric_inputs_are_rejected():
    with pytest.raises(InputError, match="pair up"):
        classify.accuracy([0, 1], [0])
    with pytest.raises(InputError, match="argmax"):
        classify.accuracy(torch.randn(3, 2), [0, 1, 1])
    with pytest.raises(InputError, match="empty"):
        classify.accuracy([], [])
    with pytest.raises(InputError, match=">= 0"):
        classify.confusion_matrix([-1], [0])
    with pytest.raises(ConfigError, match="num_classes"):
        classify.confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ConfigError, match="average"):
        classify.precision_recall_f1([0], [0], average="harmonic")
    with pytest.raises(ConfigError, match="positive"):
        classify.precision_recall_f1([0, 1], [0, 1], average="binary", positive=2)


def test_bad_training_inputs_are_rejected():
    collate = classify.token_collate(0)
    with pytest.raises(InputError, match="non-empty sequence"):
        classify.fit(MeanOfEmbeddings(), [], collate)
    with pytest.raises(ConfigError, match="epochs"):
        classify.fit(MeanOfEmbeddings(), _toy_data(), collate, epochs=0)
    with pytest.raises(ConfigError, match="lr"):
        classify.fit(MeanOfEmbeddings(), _toy_data(), collate, lr=-1)
    with pytest.raises(ConfigError, match="batch_size"):
        classify.predict(MeanOfEmbeddings(), _toy_data(), collate, batch_size=0)
    with pytest.raises(InputError, match="trainable"):
        classify.fit(nn.Identity(), _toy_data(), collate)
    with pytest.raises(InputError, match="empty"):
        classify.pad_token_ids([[1], []])
    with pytest.raises(InputError, match=r"\(token_ids, label\)"):
        collate([[1, 2, 3]])
    with pytest.raises(InputError, match=r"\(batch, num_classes\)"):
        classify.predict(nn.Embedding(3, 2), [(torch.tensor([[1]]), 0)], lambda b: (b[0][0], None))
    with pytest.raises(ConfigError, match="label names"):
        classify.evaluate(MeanOfEmbeddings(), _toy_data(4), collate, label_names=["x"])

"""zh-sentiment: the char n-gram tokenizer cuts what scikit-learn's char analyzer cuts, naive
Bayes gives scikit-learn's MultinomialNB probabilities, and the shipped folder is what its
metrics and card say."""

from __future__ import annotations

import json
import random
import shutil
import unicodedata

import pytest
import torch

import lmkit
from lmkit import hub
from lmkit.basics.naive_bayes import (
    NaiveBayesClassifier,
    fit_naive_bayes,
    load_folder,
    save_folder,
)
from lmkit.data.reviews import load_reviews
from lmkit.errors import CheckpointError, ConfigError, InputError
from lmkit.nn.padding import pad_right
from lmkit.recipes import zh_sentiment
from lmkit.tasks.text_classify import classify, predict_proba
from lmkit.tokenizers import load_tokenizer
from lmkit.tokenizers.char_ngram import CharNgramTokenizer, char_ngrams

TEXTS = [
    "这部电影很好看。",
    "服务态度差、菜也凉了。。。",
    "iPhone 15 的电池 Very Good、续航一天没问题",
    "tabs\tand  double   spaces\n\nand newlines",
    "emoji 😀👍🏽 and a family 👨‍👩‍👧 here",
    "a",
    "",
    "   ",
    "MiXeD CaSe 和 中文 ABC",
]
# NFKC folds the full-width letters, digits and punctuation of these to ASCII.
FULL_WIDTH = ["ＡＢＣ１２３，好！", "ｉＰｈｏｎｅ　很好用", "这部电影很好看！"]


def _nfkc_lower(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@pytest.fixture(scope="module")
def sk():
    from sklearn.feature_extraction.text import CountVectorizer  # a dev dependency: the reference
    from sklearn.naive_bayes import MultinomialNB

    return CountVectorizer, MultinomialNB


@pytest.fixture(scope="module")
def zh_reviews():
    return load_reviews("zh", "train"), load_reviews("zh", "test")


def _probabilities(model, tokenizer, texts):
    ids, mask = pad_right([tokenizer.encode(t) for t in texts], tokenizer.pad_id)
    with torch.no_grad():
        return torch.softmax(model(ids, mask).logits.double(), -1)


# ---------------------------------------------------------------- tokenizer vs scikit-learn
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 4), (3, 3)])
def test_ngrams_are_sklearns_char_analyzer_pieces_in_its_order(sk, ngram_range):
    vectorizer_cls, _ = sk
    plain = vectorizer_cls(analyzer="char", ngram_range=ngram_range).build_analyzer()
    for text in TEXTS:  # NFKC leaves these alone, so sklearn's own preprocessing must agree
        assert unicodedata.normalize("NFKC", text) == text
        assert char_ngrams(text, ngram_range) == plain(text), text
    folded = vectorizer_cls(
        analyzer="char", ngram_range=ngram_range, preprocessor=_nfkc_lower
    ).build_analyzer()
    for text in FULL_WIDTH:
        assert char_ngrams(text, ngram_range) == folded(text), text


def test_the_tokenizer_shows_those_pieces_and_counts_them_as_sklearn_does(sk, zh_reviews):
    vectorizer_cls, _ = sk
    train = [r.text for r in zh_reviews[0][:200]] + TEXTS + FULL_WIDTH
    tokenizer = CharNgramTokenizer.train(train, (1, 3))
    vectorizer = vectorizer_cls(analyzer="char", ngram_range=(1, 3), preprocessor=_nfkc_lower)
    counts = vectorizer.fit_transform(train).toarray()
    assert tokenizer.ngrams == sorted(vectorizer.vocabulary_)
    assert tokenizer.vocab_size == len(vectorizer.vocabulary_) + 2
    column = {gram: j for gram, j in vectorizer.vocabulary_.items()}
    for row, text in zip(counts, train, strict=True):
        assert tokenizer.tokenize(text) == vectorizer.build_analyzer()(text)
        mine = torch.bincount(torch.tensor(tokenizer.encode(text), dtype=torch.long),
                              minlength=tokenizer.vocab_size)  # fmt: skip
        theirs = torch.zeros(tokenizer.vocab_size, dtype=torch.long)
        for gram, j in column.items():
            theirs[tokenizer.token_to_id(gram)] = int(row[j])
        assert torch.equal(mine, theirs), text


def test_ids_specials_unknowns_and_decode():
    tokenizer = CharNgramTokenizer.train(["很好看", "不好看"], (1, 2))
    assert (tokenizer.pad_id, tokenizer.unk_id) == (0, 1)
    assert tokenizer.id_to_token(0) == "[PAD]" and tokenizer.token_to_id("[UNK]") == 1
    assert tokenizer.ngrams == ["不", "不好", "好", "好看", "很", "很好", "看"]
    assert tokenizer.encode("很好") == [6, 4, 7]  # 很, 好, then the 2-gram 很好
    assert tokenizer.encode("完全 unknown!") == [1] * (11 + 10)  # 11 chars: 11 + 10 n-grams
    assert tokenizer.encode("") == []
    assert tokenizer.decode(tokenizer.encode("好看很好")) == "好看很好"  # the 1-grams
    assert tokenizer.decode(tokenizer.encode("很坏")) == "很"  # unknown 坏 is lost
    assert tokenizer.encode("[UNK]", allowed_special="all") == [1]
    assert char_ngrams("ＮＯ！", (1, 2)) == ["n", "o", "!", "no", "o!"]
    assert CharNgramTokenizer.train(["ab", "ab", "c"], (1, 1), min_count=2).ngrams == ["a", "b"]


def test_tokenizer_json_round_trip_and_bad_settings(tmp_path):
    tokenizer = CharNgramTokenizer.train(TEXTS, (1, 3))
    path = tokenizer.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(path)
    assert type(again) is CharNgramTokenizer and again.ngram_range == (1, 3)
    assert all(again.encode(t) == tokenizer.encode(t) for t in TEXTS)
    with pytest.raises(ConfigError, match="ngram_range"):
        CharNgramTokenizer.train(TEXTS, (2, 1))
    with pytest.raises(ConfigError, match="sorted"):
        CharNgramTokenizer(["b", "a"], (1, 1))
    with pytest.raises(InputError, match="list of texts"):
        CharNgramTokenizer.train("one string")


# ---------------------------------------------------------------- naive Bayes vs scikit-learn
def _random_corpus(seed: int, n: int = 60) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts = ["".join(rng.choice("好坏很不太差棒ab c") for _ in range(rng.randint(1, 12)))
             for _ in range(n)]  # fmt: skip
    labels = [rng.randrange(3) for _ in range(n)]
    labels[:3] = [0, 1, 2]  # every class present
    return texts, labels


def _assert_like_sklearn(sk, train, labels, test, ngram_range, alpha, n_labels, min_count=1):
    vectorizer_cls, nb_cls = sk
    tokenizer = CharNgramTokenizer.train(train, ngram_range, min_count)
    model = fit_naive_bayes(
        [tokenizer.encode(t) for t in train], labels, tokenizer.vocab_size, n_labels, alpha
    )
    # A fixed vocabulary makes sklearn drop exactly the n-grams that are [UNK] here.
    vectorizer = vectorizer_cls(
        analyzer="char", ngram_range=ngram_range, preprocessor=_nfkc_lower,
        vocabulary=tokenizer.ngrams,
    )  # fmt: skip
    reference = nb_cls(alpha=alpha).fit(vectorizer.transform(train), labels)
    rows = [tokenizer.token_to_id(g) for g in tokenizer.ngrams]
    table = model.log_likelihood.detach()[rows].T.numpy()
    assert abs(table - reference.feature_log_prob_).max() < 1e-6
    assert abs(model.log_prior.detach().numpy() - reference.class_log_prior_).max() < 1e-6
    assert torch.count_nonzero(model.log_likelihood[:2]) == 0  # [PAD], [UNK] add nothing
    mine = _probabilities(model, tokenizer, test).numpy()
    assert abs(mine - reference.predict_proba(vectorizer.transform(test))).max() < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_naive_bayes_is_multinomial_nb_on_a_random_corpus(sk, seed):
    texts, labels = _random_corpus(seed)
    test, _ = _random_corpus(seed + 100, 20)
    alpha = [0.1, 0.5, 1.0][seed]
    _assert_like_sklearn(sk, texts, labels, [*test, "xyz 未见"], (1, 2 + seed), alpha, 3)


@pytest.mark.parametrize(
    ("ngram_range", "alpha", "min_count"), [((1, 3), 0.5, 1), ((1, 2), 0.3, 2)]
)
def test_fit_naive_bayes_is_multinomial_nb_on_the_reviews(sk, zh_reviews, ngram_range, alpha, min_count):  # fmt: skip
    train, test = zh_reviews
    _assert_like_sklearn(
        sk, [r.text for r in train], [r.label for r in train], [r.text for r in test],
        ngram_range, alpha, 2, min_count,
    )  # fmt: skip


def test_fit_naive_bayes_refuses_bad_input():
    with pytest.raises(ConfigError, match="alpha"):
        fit_naive_bayes([[2]], [0], 5, 2, 0.0)
    with pytest.raises(InputError, match="No training text"):
        fit_naive_bayes([[2], [3]], [0, 0], 5, 2, 1.0)
    with pytest.raises(InputError, match=r"0\.\.4"):
        fit_naive_bayes([[2], [9]], [0, 1], 5, 2, 1.0)


# ---------------------------------------------------------------- the classifier interface
@pytest.fixture(scope="module")
def small():
    texts, labels = _random_corpus(7)
    labels = [y % 2 for y in labels]
    tokenizer = CharNgramTokenizer.train(texts, (1, 3))
    model = fit_naive_bayes([tokenizer.encode(t) for t in texts], labels, tokenizer.vocab_size)
    return model.float(), tokenizer, texts


def test_temperature_divides_the_logits(small):
    model, tokenizer, texts = small
    ids, mask = pad_right([tokenizer.encode(t) for t in texts[:8]], 0)
    plain = model(ids, mask).logits
    model.temperature = 4.0
    try:
        assert torch.allclose(model(ids, mask).logits, plain / 4.0)
    finally:
        model.temperature = 1.0


def test_padding_and_inputs_embeds_change_nothing(small):
    model, tokenizer, texts = small
    ids = [tokenizer.encode(t) for t in texts[:6]]
    padded, mask = pad_right(ids, 0)
    batch = model(padded, mask).logits
    for k, row in enumerate(ids):  # one at a time, no padding at all
        alone = model(torch.tensor([row])).logits[0]
        assert torch.allclose(batch[k], alone, atol=1e-5)
        expected = model.log_prior + model.log_likelihood[row].sum(0)  # by hand
        assert torch.allclose(alone, expected, atol=1e-4)
    # Padding with a real token's id (not [PAD]) must still be masked out.
    junk = torch.where(mask.bool(), padded, torch.full_like(padded, 5))
    assert torch.allclose(model(junk, mask).logits, batch, atol=1e-5)
    embeds = model.input_embeddings(padded)
    assert embeds.shape == (*padded.shape, 2)
    out = model(inputs_embeds=embeds, attention_mask=mask)
    assert torch.equal(out.logits, batch) and out.attentions is None


def test_bad_inputs_are_input_errors(small):
    model, tokenizer, _ = small
    with pytest.raises(InputError, match="ids must be in"):
        model(torch.tensor([[tokenizer.vocab_size]]))
    with pytest.raises(InputError, match="maximum"):
        model(torch.zeros(1, model.max_length + 1, dtype=torch.long))
    with pytest.raises(InputError, match="attention_mask"):
        model(torch.tensor([[2, 3]]), torch.ones(1, 3))
    with pytest.raises(ConfigError, match="labels"):
        NaiveBayesClassifier(10, ("only",))


# ---------------------------------------------------------------- files
def test_save_and_load_give_the_same_classifier(small, tmp_path):
    model, tokenizer, texts = small
    model.temperature = 2.5
    try:
        folder = save_folder(model, tokenizer, tmp_path / "nb", languages=("zh",))
        loaded, loaded_tokenizer = load_folder(folder, device="cpu")
        assert loaded.temperature == 2.5 and loaded.labels == model.labels
        config = json.loads((folder / "config.json").read_text())
        assert config["format"] == "lmkit-naive-bayes" and config["ngram_range"] == [1, 3]
        assert config["model_type"] == "naive-bayes-classifier"
        assert torch.equal(loaded.log_likelihood, model.log_likelihood.float())
        expected = _probabilities(model, tokenizer, texts)
        assert torch.allclose(_probabilities(loaded, loaded_tokenizer, texts), expected)
        through_hub = lmkit.load(folder, device="cpu")
        assert through_hub.kind == "classifier"
        assert torch.allclose(predict_proba(through_hub, texts).double(), expected, atol=1e-6)
    finally:
        model.temperature = 1.0


def _edit_config(folder, **changes):
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda f: _edit_config(f, format="other"), "not a naive Bayes"),
        (lambda f: _edit_config(f, temperature=-1), "'temperature' must be"),
        (lambda f: _edit_config(f, labels=["a"]), "'labels' must be"),
        (lambda f: _edit_config(f, ngram_range=[3, 1]), "'ngram_range' must be"),
        (lambda f: _edit_config(f, vocab_size=99), "not the one config.json"),
        (lambda f: (f / "model.safetensors").unlink(), "does not exist"),
        (lambda f: (f / "tokenizer.json").unlink(), "does not exist"),
        (lambda f: (f / "config.json").unlink(), "config"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 40), "Cannot read"),
        (lambda f: (f / "tokenizer.json").write_text('{"type": "char_ngram"}'), "tokenizer"),
    ],
)
def test_a_damaged_folder_is_a_checkpoint_error(small, tmp_path, damage, message):
    model, tokenizer, _ = small
    folder = save_folder(model, tokenizer, tmp_path / "nb")
    damage(folder)
    with pytest.raises(CheckpointError, match=message):
        load_folder(folder)


def test_a_misshapen_tensor_is_a_checkpoint_error(small, tmp_path):
    from safetensors.torch import save_file

    model, tokenizer, _ = small
    folder = save_folder(model, tokenizer, tmp_path / "nb")
    for tensors, message in (
        ({"log_likelihood": torch.zeros(5, 2), "log_prior": torch.zeros(2)}, "shape"),
        ({"log_likelihood": model.log_likelihood.float(), "log_prior": torch.zeros(3)}, "shape"),
        ({"log_likelihood": model.log_likelihood.float()}, "expected"),
        ({"log_likelihood": model.log_likelihood.float(),
          "log_prior": torch.tensor([0.0, float("nan")])}, "NaN"),
    ):  # fmt: skip
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors")
        )
        with pytest.raises(CheckpointError, match=message):
            load_folder(folder)


# ---------------------------------------------------------------- recipe and shipped model
def test_the_recipe_smoke_run_writes_a_loadable_folder(tmp_path):
    metrics = zh_sentiment.train_zh_sentiment(
        zh_sentiment.ZhSentimentRecipe.smoke(), tmp_path / "zh", log=None
    )
    loaded = lmkit.load(tmp_path / "zh", device="cpu")
    assert type(loaded.model) is NaiveBayesClassifier and loaded.kind == "classifier"
    assert loaded.card == zh_sentiment.model_card(metrics)
    assert len(metrics["grid"]) == 2 * 2 * 2 and metrics["temperature"] > 0  # n, alpha, span
    assert classify(loaded, "很好").label in ("negative", "positive")
    assert set(metrics["evaluation"]) == set(zh_sentiment.MEASURED)


def test_the_recipe_refuses_bad_settings():
    with pytest.raises(ConfigError, match="folds"):
        zh_sentiment.ZhSentimentRecipe(folds=1)
    with pytest.raises(ConfigError, match="max_ns"):
        zh_sentiment.ZhSentimentRecipe(max_ns=(0,))


SHIPPED = hub.WEIGHTS_DIR / "zh-sentiment"


def test_the_shipped_card_is_its_metrics_rendered():
    metrics = json.loads((SHIPPED / "metrics.json").read_text(encoding="utf-8"))
    assert zh_sentiment.model_card(metrics) == (SHIPPED / "MODEL_CARD.md").read_text(
        encoding="utf-8"
    )
    assert metrics["weights_bytes"] == (SHIPPED / "model.safetensors").stat().st_size < 2 * 10**6


def test_the_shipped_model_scores_what_its_metrics_say_on_the_independent_writer(tmp_path):
    metrics = json.loads((SHIPPED / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["reviews_sha256"] == zh_sentiment.data_fingerprint(), (
        "The review files changed since zh-sentiment was made; rebuild it with "
        "python -m lmkit.recipes.zh_sentiment --out lmkit/weights/zh-sentiment"
    )
    heldout = [r for r in load_reviews("zh", "test") if r.source == "heldout"]
    loaded = lmkit.load("zh-sentiment", device="cpu")
    assert "zh-sentiment" in hub.available_models("classifier")
    predicted = predict_proba(loaded, [r.text for r in heldout]).argmax(-1)
    accuracy = sum(int(p) == r.label for p, r in zip(predicted, heldout, strict=True)) / len(
        heldout
    )
    assert abs(accuracy - metrics["evaluation"]["zh_heldout"]["accuracy"]) < 1e-9
    assert accuracy >= 0.85
    # A copy of the folder loads the same way (a user's saved folder).
    shutil.copytree(SHIPPED, tmp_path / "copy")
    assert lmkit.load(tmp_path / "copy", device="cpu").tokenizer.vocab_size == metrics["vocab_size"]


# ---------------------------------------------------------------- negation marking
def test_negation_marking_marks_the_span_after_a_negator_within_its_clause():
    from lmkit.tokenizers.char_ngram import units

    # 3 characters after 不, the clause ends at the comma; 没 starts a new span
    assert units("一点也不无聊的片，很好没意思", 3) == [
        "一", "点", "也", "不", "¬无", "¬聊", "¬的", "片", ",", "很", "好", "没", "¬意", "¬思",
    ]  # fmt: skip
    assert units("不不好", 2) == ["不", "¬不", "¬好"]  # a negator inside a span starts it anew
    assert units("不¬好", 2) == ["不", "¬好"]  # a typed ¬ is dropped, never taken for a mark
    assert units("不好", 0) == ["不", "好"]  # off: plain characters
    assert char_ngrams("不无聊", (1, 2), 3) == ["不", "¬无", "¬聊", "不¬无", "¬无¬聊"]
    with pytest.raises(ConfigError, match="negation_span"):
        char_ngrams("不好", (1, 2), -1)


def test_negation_marking_keeps_a_plain_word_on_its_side(tmp_path):
    # "not boring" is positive, "boring" negative: without marks 无聊 is split between them
    texts = ["一点也不无聊", "完全不无聊", "很无聊", "真无聊"]
    labels = [1, 1, 0, 0]
    weights = {}
    for span in (0, 3):
        tokenizer = CharNgramTokenizer.train(texts, (1, 2), negation_span=span)
        ids = [tokenizer.encode(t) for t in texts]
        model = fit_naive_bayes(ids, labels, tokenizer.vocab_size, 2, 1.0)
        row = model.log_likelihood[tokenizer.token_to_id("无聊")]
        weights[span] = float(row[1] - row[0])  # log P(无聊 | pos) - log P(无聊 | neg)
    # with marks, 无聊 occurs only in the negative texts (the others have ¬无¬聊)
    assert weights[3] < -0.9 and weights[3] < weights[0] - 0.5, weights
    tokenizer.save(tmp_path / "t.json")
    again = load_tokenizer(tmp_path / "t.json")
    assert again.negation_span == 3 and again.encode("不无聊") == tokenizer.encode("不无聊")
    assert again.decode(again.encode("不无聊")) == "不无聊"  # marks are not text

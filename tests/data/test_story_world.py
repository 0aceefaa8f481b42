"""Tests for the story world: determinism, grammar round trips, exact labels, bad input."""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys

import pytest

from lmkit.data import StoryWorld, is_grammatical, parse, split_sentences, variety_stats
from lmkit.data.story_grammar import check_templates, render
from lmkit.data.story_lexicon import TYPES, entity_strings, translate_entity
from lmkit.data.story_plots import Character
from lmkit.data.story_world import SEPARATOR
from lmkit.errors import ConfigError, InputError

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ASCII_LETTER = re.compile(r"[A-Za-z]")


@pytest.fixture(scope="module")
def parallel():
    """400 frames rendered in both languages: (frame, english story, chinese story)."""
    world = StoryWorld(123)
    frames = [world.frame() for _ in range(400)]
    return [(f, world.render(f, "en"), world.render(f, "zh")) for f in frames]


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_same_output():
    a, b = StoryWorld(7), StoryWorld(7)
    assert a.corpus(40, "both") == b.corpus(40, "both")
    assert a.sentiment(50, "zh") == b.sentiment(50, "zh")
    assert a.qa(20, "en") == b.qa(20, "en")
    assert a.ner(20, "zh") == b.ner(20, "zh")
    assert a.translation_pairs(30) == b.translation_pairs(30)
    assert a.summaries(10, "en") == b.summaries(10, "en")


def test_different_seeds_differ():
    assert StoryWorld(1).corpus(20) != StoryWorld(2).corpus(20)
    assert StoryWorld(1).sentiment(20) != StoryWorld(2).sentiment(20)


def test_output_does_not_depend_on_hash_randomization():
    code = (
        "import hashlib; from lmkit.data import StoryWorld; "
        "print(hashlib.sha256(StoryWorld(5).corpus(30, 'both').encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    digests.add(hashlib.sha256(StoryWorld(5).corpus(30, "both").encode()).hexdigest())
    assert len(digests) == 1


# ---------------------------------------------------------------- the grammar accepts what it writes
def test_templates_and_lexicon_agree():
    check_templates()  # raises ConfigError on an unknown type or a missing word form


def test_every_story_sentence_is_grammatical(parallel):
    checked = 0
    for _, en, zh in parallel:
        for story in (en, zh):
            for sentence in story.sentences:
                assert is_grammatical(sentence, story.lang), (story.lang, sentence)
                checked += 1
    assert checked > 3000


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_labelled_example_is_grammatical(lang):
    world = StoryWorld(9)
    for ex in world.sentiment(400, lang):
        assert is_grammatical(ex.text, lang), ex.text
    for ex in world.qa(150, lang):
        assert is_grammatical(ex.question, lang), ex.question
    for ex in world.summaries(150, lang):
        assert is_grammatical(ex.summary, lang), ex.summary
    for pair in world.translation_pairs(300):
        assert is_grammatical(pair.en, "en") and is_grammatical(pair.zh, "zh"), pair


@pytest.mark.parametrize(
    ("sentence", "lang"),
    [
        ("我喜欢吃苹果。", "zh"),
        ("苹果是一种水果。", "zh"),
        ("小明在公园里看见了一只小狗。", "zh"),
        ("他很高兴。", "zh"),
        ("因为下雨了，所以小明没有去公园。", "zh"),
        ("这部电影很好看，但是太长了。", "zh"),
        ("这部电影不好看。", "zh"),
        ("I like to eat apples.", "en"),
        ("Apples are a kind of fruit.", "en"),
        ("Tom went to the park.", "en"),
        ("The movie was not bad.", "en"),
    ],
)
def test_the_books_example_sentences_belong_to_the_grammar(sentence, lang):
    assert is_grammatical(sentence, lang)


# ---------------------------------------------------------------- and rejects what it does not
@pytest.mark.parametrize(
    ("sentence", "lang"),
    [
        ("Him went to the park.", "en"),  # wrong pronoun case
        ("Tom gave she an apple.", "en"),
        ("Her was happy.", "en"),
        ("He like to eat apples.", "en"),  # agreement
        ("I likes to eat apples.", "en"),
        ("They was happy.", "en"),
        ("Lucy lost his umbrella.", "en"),  # possessive does not match the subject
        ("Alice ate the Tuesday.", "en"),  # wrong type in a slot
        ("Tom went to apples.", "en"),
        ("I like to eat parks.", "en"),
        ("Zorblat went to the park.", "en"),  # unknown words
        ("I like to eat zebras.", "en"),
        ("Tom went to the park", "en"),  # truncated
        ("Tom went to the.", "en"),
        ("park the to went Tom.", "en"),  # shuffled
        ("i like to eat apples.", "en"),  # missing capital
        ("I  like to eat apples.", "en"),  # double space
        ("我欢喜吃苹果。", "zh"),  # characters swapped
        ("我喜欢吃果苹。", "zh"),
        ("小明吃了星期二。", "zh"),  # wrong type
        ("小明在公园里看见了一只。", "zh"),  # truncated
        ("我喜欢吃苹果", "zh"),
        ("我喜欢吃苹果.", "zh"),  # English full stop
        ("I like to eat apples.", "zh"),  # wrong language
        ("我喜欢吃苹果。", "en"),
        ("", "en"),
        ("   ", "zh"),
    ],
)
def test_ungrammatical_sentences_are_rejected(sentence, lang):
    assert not is_grammatical(sentence, lang)


def _sample_sentences(lang: str, n_frames: int = 250) -> list[str]:
    world = StoryWorld(31)
    return [s for _ in range(n_frames) for s in world.render(world.frame(), lang).sentences]


def test_word_salad_is_rejected():
    rng = random.Random(0)
    words = {"en": [], "zh": []}
    for entries in TYPES.values():
        for e in entries:
            words["en"] += e.en.values()
            words["zh"] += e.zh.values()
    for lang, end, join in (("en", ".", " "), ("zh", "。", "")):
        for _ in range(300):
            salad = join.join(rng.choice(words[lang]) for _ in range(rng.randint(3, 7))) + end
            salad = salad[0].upper() + salad[1:]
            assert not is_grammatical(salad, lang), salad


def test_shuffled_words_are_rejected():
    rng, tried, accepted = random.Random(1), 0, []
    for sentence in _sample_sentences("en"):
        words = sentence[:-1].split()
        shuffled = words[:]
        rng.shuffle(shuffled)
        if len(words) < 3 or shuffled == words:
            continue
        tried += 1
        candidate = " ".join(shuffled) + sentence[-1]
        if is_grammatical(candidate, "en"):
            accepted.append(candidate)
    # a shuffle can land on another real sentence ("Anna called Mary."), rarely
    assert tried > 500 and len(accepted) <= 0.01 * tried, accepted[:5]


def test_swapped_chinese_characters_are_rejected():
    rng, tried, accepted = random.Random(2), 0, []
    for sentence in _sample_sentences("zh"):
        body = sentence[:-1]
        spots = [i for i in range(len(body) - 1) if body[i] != body[i + 1]]
        i = rng.choice(spots)
        candidate = body[:i] + body[i + 1] + body[i] + body[i + 2 :] + sentence[-1]
        tried += 1
        if is_grammatical(candidate, "zh"):
            accepted.append(candidate)
    assert tried > 500 and len(accepted) <= 0.01 * tried, accepted[:5]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_truncated_sentences_are_rejected(lang):
    rng = random.Random(3)
    for sentence in _sample_sentences(lang, 120):
        cut = sentence[: rng.randrange(1, len(sentence))]  # an unfinished sentence has no end mark
        assert not is_grammatical(cut, lang), cut


def test_wrong_pronoun_case_is_rejected_wherever_a_subject_pronoun_starts():
    swaps = {"He ": "Him ", "She ": "Her ", "They ": "Them ", "I ": "Me "}
    changed = 0
    for sentence in _sample_sentences("en"):
        for good, bad in swaps.items():
            if sentence.startswith(good):
                changed += 1
                assert not is_grammatical(bad + sentence[len(good) :], "en"), sentence
    assert changed > 100


# ---------------------------------------------------------------- labels are exact
def test_stories_have_three_to_eight_sentences_and_consistent_text(parallel):
    for _, en, zh in parallel:
        assert 3 <= len(en.sentences) <= 8
        assert len(en.sentences) == len(zh.sentences)
        assert en.text == " ".join(en.sentences) and zh.text == "".join(zh.sentences)
        assert en.sentences == tuple(split_sentences(en.text, "en"))
        assert zh.sentences == tuple(split_sentences(zh.text, "zh"))


def test_languages_do_not_mix(parallel):
    for _, en, zh in parallel:
        assert not CJK.search(en.text), en.text
        assert not ASCII_LETTER.search(zh.text), zh.text


def _pronoun_checks(frame, story, subject_forms, poss_forms):
    """Every subject pronoun and possessive must match the subject character's gender."""
    count = 0
    for (_, bindings), sentence in zip(frame.events, story.sentences, strict=True):
        who = bindings.get("S")
        if not isinstance(who, Character):
            continue
        result = parse(sentence, story.lang)
        assert result is not None, sentence
        person = "i" if who.narrator else who.gender
        subject = result.slots["S"]
        assert result.person == person, sentence
        pronouns = {p for forms in subject_forms.values() for p in forms}
        if subject in pronouns:
            assert subject in subject_forms[person], sentence
            count += 1
        elif not who.narrator:
            names = {who.name.form(story.lang) if who.name else who.family.form(story.lang)}
            assert subject in names | {s.capitalize() for s in names}, sentence
        if "poss" in result.slots:
            assert result.slots["poss"] in poss_forms[person], sentence
    return count


def test_pronouns_agree_with_the_characters_gender(parallel):
    en_subj = {"m": {"He", "he"}, "f": {"She", "she"}, "i": {"I"}}
    en_poss = {"m": {"his"}, "f": {"her"}, "i": {"my"}}
    zh_subj = {"m": {"他"}, "f": {"她"}, "i": {"我"}}
    zh_poss = {"m": {"他的"}, "f": {"她的"}, "i": {"我的"}}
    total = 0
    for frame, en, zh in parallel:
        total += _pronoun_checks(frame, en, en_subj, en_poss)
        total += _pronoun_checks(frame, zh, zh_subj, zh_poss)
    assert total > 1000


def test_a_character_is_named_before_any_pronoun_refers_to_them(parallel):
    checked = 0
    for frame, en, _ in parallel:
        for i, ((_, bindings), sentence) in enumerate(zip(frame.events, en.sentences, strict=True)):
            who = bindings.get("S")
            if not isinstance(who, Character) or who.name is None:
                continue
            if parse(sentence, "en").slots["S"] in ("He", "She", "he", "she"):
                before = " ".join(en.sentences[:i])
                assert re.search(rf"\b{who.name.en['n']}\b", before), (sentence, en.text)
                checked += 1
    assert checked > 500


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ner_spans_are_exact_and_complete(lang):
    lexicon = {label: entity_strings(label, lang) for label in ("PER", "LOC", "ORG")}
    labels = set()
    for ex in StoryWorld(4).ner(300, lang):
        covered = set()
        for start, end, label in ex.spans:
            assert ex.text[start:end] in lexicon[label], (ex.text[start:end], label)
            covered.update(range(start, end))
            labels.add(label)
        # completeness: no lexicon entity occurs outside the spans
        for label, strings in lexicon.items():
            for surface in strings:
                pattern = rf"\b{re.escape(surface)}\b" if lang == "en" else re.escape(surface)
                for m in re.finditer(pattern, ex.text):
                    assert set(range(m.start(), m.end())) <= covered, (surface, label, ex.text)
    assert labels == {"PER", "LOC", "ORG"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_qa_answers_sit_at_answer_start(lang):
    names = entity_strings("PER", lang) | {e.form(lang) for e in TYPES["FAMILY"]}
    questions = set()
    for ex in StoryWorld(6).qa(300, lang):
        assert ex.answer and ex.answer in ex.context
        assert ex.context[ex.answer_start : ex.answer_start + len(ex.answer)] == ex.answer
        # the question names a character of the story (never "he" / "she")
        question, context = (
            ex.question.lower(),
            ex.context.lower(),
        )  # "My brother" starts a sentence
        assert any(n.lower() in question and n.lower() in context for n in names), ex.question
        questions.add(ex.question.split()[0] if lang == "en" else ex.question[-3:])
    assert len(questions) >= 3  # several kinds of questions, not one


def test_where_questions_are_answered_by_a_place():
    places = {e.en["n"] for e in TYPES["PLACE"]} | entity_strings("LOC", "en")
    places |= entity_strings("ORG", "en")
    seen = 0
    for ex in StoryWorld(8).qa(300, "en"):
        where = ex.question.startswith(("Where did", "Where does", "Where was", "Where is"))
        if where and " find " not in ex.question:
            assert ex.answer in places, (ex.question, ex.answer)
            seen += 1
    assert seen > 20


# The sentiment rule, written again here independently: find the clause after "but" / 但是
# (or the whole sentence), find its adjective in the lexicon, and flip its polarity if it is
# negated; "liked" / "did not like" decide on their own.
_POLARITY_EN = {e.en["n"]: e.attrs["polarity"] for c in ("story", "music", "food", "drink", "place")
                for e in TYPES["ADJ_" + c]}  # fmt: skip
_POLARITY_ZH = {e.zh["n"]: e.attrs["polarity"] for c in ("story", "music", "food", "drink", "place")
                for e in TYPES["ADJ_" + c]}  # fmt: skip
_TARGETS = {lang: sorted({e.form(lang) for name in TYPES if name.startswith("TARGET_")
                          for e in TYPES[name]}, key=len, reverse=True) for lang in ("en", "zh")}  # fmt: skip


def _independent_label(text: str, lang: str) -> int:
    for target in _TARGETS[lang]:
        text = text.replace(target, " ")  # "the dish" must not be read as an opinion word
    if lang == "en":
        clause = text.split(" but ")[-1].lower()
        if "did not" in clause:
            return 0
        if re.search(r"\b(liked|loved)\b", clause):
            return 1
        words = re.findall(r"[a-z]+", clause)
        j = max(i for i, w in enumerate(words) if w in _POLARITY_EN)
        negated = words[j - 1] == "not" or words[max(j - 2, 0) : j] == ["not", "very"]
        return _POLARITY_EN[words[j]] ^ negated
    clause = text.split("但是")[-1]
    if "喜欢" in clause:
        return 0 if "不" in clause else 1
    if "不错" in clause:
        return 1
    found = [(clause.rfind(a), a) for a in _POLARITY_ZH if a in clause]
    pos, adjective = max(found, key=lambda x: (x[0] + len(x[1]), len(x[1])))
    negated = clause[max(pos - 2, 0) : pos].endswith(("不", "不太", "没有", "没"))
    return _POLARITY_ZH[adjective] ^ negated


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sentiment_labels_follow_the_documented_rule(lang):
    examples = StoryWorld(10).sentiment(600, lang)
    for ex in examples:
        assert ex.label == _independent_label(ex.text, lang), ex.text
    share = sum(ex.label for ex in examples) / len(examples)
    assert 0.4 < share < 0.6


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sentiment_tags_match_the_words(lang):
    degree = {
        "en": r"\b(very|really|so|quite|too|a little|loved)\b",
        "zh": "非常|真的很|特别|挺|太|有点",
    }
    for ex in StoryWorld(11).sentiment(400, lang):
        contrast = " but " in ex.text or ", but " in ex.text if lang == "en" else "但是" in ex.text
        negation = re.search(r"\bnot\b", ex.text) if lang == "en" else re.search("不|没", ex.text)
        assert ("contrast" in ex.tags) == bool(contrast), ex
        assert ("negation" in ex.tags) == bool(negation), ex
        assert ("intensifier" in ex.tags) == bool(re.search(degree[lang], ex.text)), ex
    all_tags = set().union(*(ex.tags for ex in StoryWorld(11).sentiment(200, lang)))
    assert all_tags == {"negation", "contrast", "intensifier"}


def test_translation_pairs_share_their_named_entities():
    strings = {label: entity_strings(label, "en") for label in ("PER", "LOC", "ORG")}
    mapped = 0
    for pair in StoryWorld(12).translation_pairs(600):
        assert not CJK.search(pair.en) and not ASCII_LETTER.search(pair.zh)
        for label, surfaces in strings.items():
            for surface in surfaces:
                if re.search(rf"\b{re.escape(surface)}\b", pair.en):
                    assert translate_entity(surface, label) in pair.zh, (surface, pair)
                    mapped += 1
    assert mapped > 300


def test_parallel_stories_come_from_the_same_frame(parallel):
    for frame, en, zh in parallel:
        assert en.frame is frame and zh.frame is frame
        assert en.rules == zh.rules
        en_entities = [(e.label, translate_entity(e.surface, e.label)) for e in en.entities]
        assert sorted(en_entities) == sorted((e.label, e.surface) for e in zh.entities)


def test_summaries_name_the_storys_character():
    names = entity_strings("PER", "en")
    for ex in StoryWorld(13).summaries(200, "en"):
        in_summary = {n for n in names if re.search(rf"\b{re.escape(n)}\b", ex.summary)}
        assert in_summary <= {n for n in names if re.search(rf"\b{re.escape(n)}\b", ex.text)}
        assert in_summary or ex.summary.startswith("I ")


def test_corpus_format_and_the_apple_prompt():
    en = StoryWorld(14).corpus(300, "en")
    zh = StoryWorld(14).corpus(300, "zh")
    assert len(en.split(SEPARATOR)) == 300 and len(zh.split(SEPARATOR)) == 300
    assert "I like to eat apples." in en and "我喜欢吃苹果。" in zh
    both = StoryWorld(15).corpus(5, "both").split(SEPARATOR)
    assert len(both) == 10
    assert all(not CJK.search(t) for t in both[0::2]) and all(CJK.search(t) for t in both[1::2])


def test_split_sentences():
    assert split_sentences("I like apples. He was happy!\n\nWhere did Tom go?", "en") == [
        "I like apples.",
        "He was happy!",
        "Where did Tom go?",
    ]
    assert split_sentences("我喜欢吃苹果。他很高兴！小明去了哪里？", "zh") == [
        "我喜欢吃苹果。",
        "他很高兴！",
        "小明去了哪里？",
    ]
    assert split_sentences("Tom went to the park. He saw a", "en") == [
        "Tom went to the park.",
        "He saw a",
    ]
    assert split_sentences("", "zh") == []


def test_variety_stats_on_a_small_sample():
    stats = variety_stats(n_tokens=20_000, seed=3)
    for lang in ("en", "zh"):
        s = stats[lang]
        assert s["tokens"] >= 20_000 and s["sentences"] > 1000
        assert s["distinct_sentences"] <= s["sentences"]
        assert 0.5 < s["distinct_share"] <= 1.0
        assert s["vocab"] > 300 and s["lexicon_words"] > 500
        assert s["seconds"] > 0


def test_bench_script_writes_its_report(tmp_path):
    from bench.story_world_stats import main

    report = main(["--tokens", "3000", "--check-stories", "20", "--out", str(tmp_path)])
    assert {row["name"] for row in report.rows} == {"en", "zh"}
    assert all(v.startswith("100.00%") for v in report.checks.values())
    assert (tmp_path / "story_world-cpu.json").exists() and (
        tmp_path / "story_world-cpu.md"
    ).exists()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("seed", [1.5, "0", None, True])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match="seed must be an int"):
        StoryWorld(seed)


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.story("fr"),
        lambda w: w.corpus(2, "fr"),
        lambda w: w.sentiment(2, "fr"),
        lambda w: w.ner(2, "de"),
        lambda w: w.qa(2, "EN"),
        lambda w: w.summaries(2, "both"),
        lambda w: w.render(w.frame(), "fr"),
    ],
)
def test_bad_language(call):
    with pytest.raises(ConfigError, match="lang must be one of"):
        call(StoryWorld(0))


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.corpus(-1),
        lambda w: w.sentiment(-3),
        lambda w: w.ner(1.5),
        lambda w: w.qa("2"),
        lambda w: w.translation_pairs(-1),
        lambda w: w.summaries(None),
    ],
)
def test_bad_counts(call):
    with pytest.raises(ConfigError, match="must be a non-negative integer"):
        call(StoryWorld(0))


def test_zero_is_a_valid_count():
    world = StoryWorld(0)
    assert world.corpus(0) == "" and world.sentiment(0) == [] and world.qa(0) == []


def test_bad_grammar_and_lexicon_lookups():
    with pytest.raises(ConfigError, match="unknown template id"):
        render("no_such_template", {}, "en")
    with pytest.raises(InputError, match="needs bindings"):
        render("go", {}, "en")
    with pytest.raises(ConfigError, match="lang must be one of"):
        render("go", {}, "fr")
    with pytest.raises(ConfigError, match="label must be"):
        entity_strings("PERSON", "en")
    with pytest.raises(ConfigError, match="lang must be"):
        entity_strings("PER", "fr")
    with pytest.raises(InputError, match="is not a LOC entity"):
        translate_entity("Atlantis", "LOC")
    with pytest.raises(InputError, match="sentence must be a str"):
        parse(b"bytes", "en")


def test_render_needs_a_frame():
    with pytest.raises(InputError, match="frame must be a Frame"):
        StoryWorld(0).render("Tom went to the park.", "en")


def test_bad_checker_input():
    with pytest.raises(ConfigError, match="lang must be one of"):
        is_grammatical("I like to eat apples.", "fr")
    with pytest.raises(InputError, match="sentence must be a str"):
        is_grammatical(42, "en")
    with pytest.raises(InputError, match="text must be a str"):
        split_sentences(None, "zh")
    with pytest.raises(ConfigError, match="lang must be one of"):
        split_sentences("x", "jp")
    with pytest.raises(ConfigError, match="n_tokens must be a non-negative integer"):
        variety_stats(n_tokens=-1)
    with pytest.raises(ConfigError, match="seed must be an int"):
        variety_stats(n_tokens=10, seed="x")

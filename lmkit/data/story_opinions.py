"""Opinion sentences with sentiment labels: "The cake was really delicious but too expensive."

Introduced in chapter 2, used by :meth:`lmkit.data.StoryWorld.sentiment` and by the plots that
end with an opinion (a movie, a meal). The label comes from the rule the generator follows:
an adjective's polarity, flipped by not / 不, and the clause after "but" deciding.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from lmkit.data.story_cast import Character
from lmkit.data.story_draft import by_key
from lmkit.data.story_lexicon import OPINION_CATEGORIES, TYPES, Entry
from lmkit.data.story_templates import Phrase

# how often each form of adjective phrase is chosen ("plain" = 很好看 / good)
_AP_FORMS = (
    "plain",
    "plain",
    "plain",
    "deg",
    "deg",
    "deg",
    "quite",
    "too",
    "not",
    "not",
    "notvery",
)


def pick_like(rng: random.Random, label: int) -> Entry:
    """A "liked" / "did not like" entry whose polarity is ``label``."""
    return rng.choice([e for e in TYPES["LIKE"] if e.attrs["polarity"] == label])


def _adjective_phrase(
    rng: random.Random, cat: str, polarity: int, avoid: Entry | None
) -> tuple[Phrase, set]:
    adjectives = [a for a in TYPES["ADJ_" + cat] if a is not avoid]
    while True:
        form = rng.choice(_AP_FORMS)
        negated = form in ("not", "notvery")
        if form in ("too", "notvery") and polarity == 1:
            continue  # "too good" and "not very good" are never positive here
        pool = [
            a for a in adjectives if a.attrs["polarity"] == (1 - polarity if negated else polarity)
        ]
        if not pool:
            continue
        adj = rng.choice(pool)
        bindings: dict[str, Any] = {"adj": adj}
        if form == "deg":
            bindings["deg"] = by_key("DEG")[
                rng.choice(["very", "really", "so", "little"][: 4 - polarity])
            ]
        tags = {"negation"} if negated else set()
        if form in ("deg", "quite", "too", "notvery"):
            tags.add("intensifier")
        return Phrase(f"ap_{cat}_{form}", bindings), tags


def opinion(
    rng: random.Random,
    cat: str | None = None,
    target: Entry | None = None,
    subject: Character | None = None,
    shapes: Sequence[str] = ("single", "single", "but", "but", "and", "like", "but_like"),
) -> tuple[str, dict, int, set]:
    """One opinion sentence: (template id, bindings, label, tags); see StoryWorld.sentiment."""
    cat = cat or rng.choice(OPINION_CATEGORIES)
    target = target or rng.choice(TYPES["TARGET_" + cat])
    label, shape = int(rng.random() < 0.5), rng.choice(shapes)
    if subject is None and shape in ("like", "but_like"):
        if rng.random() < 0.6:
            subject = Character("I", "m", narrator=True)
        else:
            entry = rng.choice(TYPES["NAME"])
            subject = Character(entry.key, entry.attrs["gender"], name=entry)
    tags: set[str] = set()
    if shape in ("single", "and"):
        first, tags = _adjective_phrase(rng, cat, label, None)
        bindings: dict[str, Any] = {"t": target, "ap": first}
        if shape == "and":
            bindings["ap2"], more = _adjective_phrase(rng, cat, label, first.bindings["adj"])
            tags |= more
        return (f"s_{cat}" if shape == "single" else f"s_{cat}_and"), bindings, label, tags
    if shape == "but":
        first, tags = _adjective_phrase(rng, cat, 1 - label, None)
        second, more = _adjective_phrase(rng, cat, label, first.bindings["adj"])
        return (
            f"s_{cat}_but",
            {"t": target, "ap": first, "ap2": second},
            label,
            tags | more | {"contrast"},
        )
    like = pick_like(rng, label)
    tags = ({"negation"} if like.attrs["negated"] else set()) | (
        {"intensifier"} if like.attrs["degree"] else set()
    )
    if shape == "like":
        return f"s_{cat}_like", {"S": subject, "like": like, "t": target}, label, tags
    first, more = _adjective_phrase(rng, cat, 1 - label, None)
    bindings = {"t": target, "ap": first, "S": subject, "like": like}
    return f"s_{cat}_but_like", bindings, label, tags | more | {"contrast"}


__all__ = ["opinion", "pick_like"]

"""Who is "he"? Deciding, sentence by sentence, whether a character is named or a pronoun.

Introduced in chapter 2. A planned story (:class:`~lmkit.data.story_plots.Frame`) only says
which character does what; before rendering, :func:`resolve` turns each character into a
:class:`Mention`, by name or by pronoun, with the same decisions for English and Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmkit.data.story_cast import Character, Group
from lmkit.data.story_templates import PAIR_JOIN, PRONOUNS, TEMPLATES, Phrase, slot_order


@dataclass(frozen=True)
class Mention:
    """A character as it appears in one sentence: by name, or by pronoun when that is clear."""

    ref: Character | Group
    pronoun: bool

    @property
    def person(self) -> str:
        return self.ref.person

    @property
    def plural_index(self) -> int:
        return int(isinstance(self.ref, Group) and self.ref.all_female)

    def segments(self, lang: str, case: str) -> list[tuple[str, str | None]]:
        ref = self.ref
        if self.pronoun or (ref.person == "we" and case == "obj"):
            forms = PRONOUNS[lang][case][ref.person]
            return [(forms[min(self.plural_index, len(forms) - 1)], None)]
        if isinstance(ref, Group):
            if ref.person == "we":
                family = next(m for m in ref.members if not m.narrator).family
                if lang == "en":
                    return [(family.en["n"], None), (" and I", None)]
                return [("我和", None), (family.zh["n"], None)]
            a, b = ref.members
            return [(a.name.form(lang), "PER"), (PAIR_JOIN[lang], None), (b.name.form(lang), "PER")]
        if ref.name is not None:
            return [(ref.name.form(lang), "PER")]
        return [(ref.family.form(lang), None)]


def resolve(events: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Decide, sentence by sentence, whether each character is named or a pronoun.

    A pronoun is used when the character was mentioned in this or the previous sentence, was
    the last one mentioned with that pronoun (he, she, they…), and nobody else in those two
    sentences shares it, so "he" always points back to one clear person. After two sentences
    of pronouns the name comes back, as in children's stories ("Tom… He… He… Tom…").
    Both languages render the same decisions.
    """
    last: dict[str, Any] = {}
    previous: set[tuple[str, int]] = set()  # (person, id) of those in the previous sentence
    current: set[tuple[str, int]] = set()
    runs: dict[int, int] = {}  # sentences in a row that began with a pronoun for this character

    def mention(ref: Character | Group, forced_name: bool) -> Mention:
        key = ref.person
        # two women in the last two sentences make "she" unclear: name them instead
        rivals = any(k == key and i != id(ref) for k, i in previous | current)
        recent = (key, id(ref)) in previous | current  # after a gap, name them again
        clear = recent and last.get(key) is ref and not rivals
        if isinstance(ref, Group):  # "Tom and Lucy are friends. They…"
            clear = clear or all((m.person, id(m)) in previous for m in ref.members)
        first_here = (key, id(ref)) not in current
        if first_here and clear and runs.get(id(ref), 0) >= 2:
            clear = False
        pronoun = ref.person == "i" or (not forced_name and clear)
        if first_here:
            runs[id(ref)] = runs.get(id(ref), 0) + 1 if pronoun else 0
        current.add((key, id(ref)))
        last[key] = ref
        if isinstance(ref, Group):  # after "Tom and Lucy", a bare "he" would be unclear
            last.pop("m", None)
            last.pop("f", None)
        return Mention(ref, pronoun)

    def walk(tid: str, bindings: Mapping[str, Any]) -> dict:
        out = dict(bindings)
        types = TEMPLATES[tid].types
        for name in slot_order(tid):
            value = bindings[name]
            if isinstance(value, (Character, Group)):
                out[name] = mention(value, types[name] == "NAMEREF")
            elif isinstance(value, Phrase):
                out[name] = Phrase(value.tid, walk(value.tid, value.bindings))
        return out

    out = []
    for tid, bindings in events:
        out.append((tid, walk(tid, bindings)))
        previous, current = current, previous
        current.clear()
    return out


__all__ = ["Mention", "resolve"]

"""The people of a story: named characters, family members, the narrator, and pairs of them.

Introduced in chapter 2. A plot (:mod:`lmkit.data.story_plots`) casts these; the story world
then decides, sentence by sentence, whether each one is named or called "he", "she", "they"…
(:mod:`lmkit.data.story_mentions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lmkit.data.story_lexicon import Entry


@dataclass(frozen=True, eq=False)
class Character:
    """A person in a story: a named character, a family member ("my mother") or the narrator."""

    key: str
    gender: str
    name: Entry | None = None
    family: Entry | None = None
    narrator: bool = False

    @property
    def person(self) -> str:
        return "i" if self.narrator else self.gender

    def __str__(self) -> str:
        return "I" if self.narrator else (self.name or self.family).en["n"]  # type: ignore[union-attr]


@dataclass(frozen=True, eq=False)
class Group:
    """Two people acting together: "Tom and Lucy" / they, or "my mother and I" / we."""

    members: tuple[Character, ...]

    @property
    def person(self) -> str:
        return "we" if any(m.narrator for m in self.members) else "they"

    @property
    def all_female(self) -> bool:
        return all(m.gender == "f" for m in self.members)

    def __str__(self) -> str:
        return " and ".join(map(str, self.members))


__all__ = ["Character", "Group"]

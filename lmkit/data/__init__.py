"""Offline data sets of the book: the story world (and, from other modules, more corpora).

Introduced in chapter 2.
"""

from lmkit.data.story_grammar import is_grammatical, parse, split_sentences
from lmkit.data.story_world import StoryWorld, variety_stats

__all__ = ["StoryWorld", "is_grammatical", "parse", "split_sentences", "variety_stats"]

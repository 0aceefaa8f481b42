"""Byte-level byte-pair encoding (BPE), written from scratch.

Introduced in chapter 2. Text becomes UTF-8 bytes, so the first 256 ids are the 256 possible
bytes and *any* string can be encoded, even characters never seen in training. Training then
repeats one step: find the most frequent adjacent pair of ids and give it a new id (a merge).
Encoding replays the merges in the order they were learned (lowest rank first).

Before counting pairs, the text is cut into chunks with a regular expression (GPT-2 style:
contractions, runs of letters, runs of digits, runs of punctuation, whitespace), so merges never
cross from a word into the next one. It uses only the standard ``re`` module: a letter is
``[^\\W\\d_]`` (a word character that is not a digit or underscore), which covers every script,
so ``我喜欢吃苹果`` is one letter run and ``。`` a punctuation run.

Training counts the chunks once, then keeps the pair counts up to date merge by merge, touching
only the places where the merged pair occurs; it never recounts the corpus.
"""

from __future__ import annotations

import heapq
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

from tqdm.auto import tqdm

from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.tokenizers.base import Tokenizer, normalize_special_tokens
from lmkit.validators import check_int

DEFAULT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"  # English contractions: "don't" -> "don", "'t"
    r"| ?[^\W\d_]+"  # letters of any script, with at most one leading space
    r"| ?\d+"  # digits
    r"| ?(?:[^\s\w]|_)+"  # punctuation, symbols, emoji
    r"|\s+(?!\S)"  # whitespace, leaving the last space to the word after it
    r"|\s+"
)
_CACHE_SIZE = 1 << 16  # chunk encodings kept; the cache is emptied when full
_CACHEABLE_CHARS = 256  # longer chunks are rare and not worth keeping


class MergeStep(NamedTuple):
    """One learned merge, for showing training step by step."""

    rank: int
    left: str
    right: str
    merged: str
    count: int | None  # how often the pair occurred when it was merged (None if unknown)


def learn_merges(
    chunk_counts: Mapping[bytes, int], num_merges: int, progress: bool = False
) -> tuple[list[tuple[int, int]], list[int]]:
    """Learn up to ``num_merges`` merges from chunk frequencies; return (pairs, counts).

    Every chunk is a doubly linked list of symbols laid out in shared arrays; ``where[pair]``
    holds the positions where ``pair`` starts, so a merge visits only its own occurrences.
    The most frequent pair comes from a heap with lazy deletion; ties go to the smallest ids.
    """
    symbols: list[int] = []
    weight: list[int] = []  # frequency of the chunk each position belongs to
    for chunk, freq in chunk_counts.items():
        symbols.extend(chunk)
        weight.extend([freq] * len(chunk))
        symbols.append(-1)  # a dead position separates chunks
        weight.append(0)
    size = len(symbols)
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for i in range(size - 1):
        if symbols[i] >= 0 and symbols[i + 1] >= 0:
            pair = (symbols[i], symbols[i + 1])
            counts[pair] += weight[i]
            where[pair].add(i)
    heap = [(-c, a, b) for (a, b), c in counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    merge_counts: list[int] = []
    changed: set[tuple[int, int]] = set()

    def add(pair: tuple[int, int], pos: int, w: int) -> None:
        counts[pair] += w
        where[pair].add(pos)
        changed.add(pair)

    def remove(pair: tuple[int, int], pos: int, w: int) -> None:
        counts[pair] -= w
        where[pair].discard(pos)
        changed.add(pair)

    bar = tqdm(total=num_merges, desc="BPE merges", unit="merge", disable=not progress)
    for rank in range(num_merges):
        while heap and counts.get((heap[0][1], heap[0][2]), 0) != -heap[0][0]:
            heapq.heappop(heap)  # stale entry: the count changed after it was pushed
        if not heap:
            break
        negative_count, a, b = heapq.heappop(heap)
        pair, new = (a, b), 256 + rank
        changed.clear()
        for i in sorted(where.pop(pair)):  # left to right, so "aaa" merges as ("aa", "a")
            j = nxt[i]
            if symbols[i] != a or symbols[j] != b:
                continue  # stale, or an earlier merge in this step consumed this occurrence
            w, p, k = weight[i], prv[i], nxt[j]
            left, right = (symbols[p] if p >= 0 else -1), symbols[k]
            if left >= 0:
                remove((left, a), p, w)
                add((left, new), p, w)
            if right >= 0:
                remove((b, right), j, w)
                add((new, right), i, w)
            symbols[i], symbols[j] = new, -2  # -2: merged away
            nxt[i], prv[k] = k, i
        del counts[pair]
        where.pop(pair, None)
        for c in changed:
            if counts.get(c, 0) > 0:
                heapq.heappush(heap, (-counts[c], c[0], c[1]))
            else:
                counts.pop(c, None)
        merges.append(pair)
        merge_counts.append(-negative_count)
        bar.update()
    bar.close()
    return merges, merge_counts


def apply_merges(ids: list[int], ranks: Mapping[tuple[int, int], int]) -> list[int]:
    """Merge ``ids`` (one chunk's bytes) by rank, lowest first; the same result as repeatedly
    merging every occurrence of the lowest-ranked pair, but O(n log n) for long chunks."""
    heap = [(r, i) for i, pair in enumerate(pairwise(ids)) if (r := ranks.get(pair)) is not None]
    if not heap:
        return ids
    heapq.heapify(heap)
    ids = list(ids)
    n = len(ids)
    nxt = [*range(1, n), -1]
    prv = list(range(-1, n - 1))
    while heap:
        rank, i = heapq.heappop(heap)
        j = nxt[i]
        if ids[i] < 0 or j < 0 or ranks.get((ids[i], ids[j])) != rank:
            continue  # stale: this position was merged or its neighbour changed
        new = 256 + rank
        ids[i], ids[j] = new, -1
        k = nxt[j]
        nxt[i] = k
        if k >= 0:
            prv[k] = i
            if (r := ranks.get((new, ids[k]))) is not None:
                heapq.heappush(heap, (r, i))
        p = prv[i]
        if p >= 0 and (r := ranks.get((ids[p], new))) is not None:
            heapq.heappush(heap, (r, p))
    return [t for t in ids if t >= 0]


class ByteBPETokenizer(Tokenizer):
    """Byte-level BPE: 256 byte tokens, then ``merges``, then ``special_tokens``."""

    type_name = "byte_bpe"

    def __init__(
        self,
        merges: Sequence[tuple[int, int]],
        special_tokens: Iterable[str] | Mapping[str, int] | None = None,
        *,
        pattern: str | None = "default",
        merge_counts: Sequence[int] | None = None,
        roles: Mapping[str, str] | None = None,
    ) -> None:
        vocab = [bytes([b]) for b in range(256)]
        ranks: dict[tuple[int, int], int] = {}
        for rank, merge in enumerate(merges):
            a, b = (int(x) for x in merge)
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ConfigError(
                    f"Merge {rank} joins ({a}, {b}), but only ids below {len(vocab)} exist yet."
                )
            if (a, b) in ranks:
                raise ConfigError(f"Merge {rank} repeats the pair ({a}, {b}).")
            ranks[(a, b)] = rank
            vocab.append(vocab[a] + vocab[b])
        if merge_counts is not None and len(merge_counts) != len(ranks):
            raise ConfigError("merge_counts must have one count per merge.")
        specials = normalize_special_tokens(special_tokens, len(vocab))
        super().__init__(specials, roles)
        self.merges: list[tuple[tuple[int, int], int]] = [(p, 256 + r) for p, r in ranks.items()]
        self.merge_counts = None if merge_counts is None else [int(c) for c in merge_counts]
        self.pattern: str | None = DEFAULT_PATTERN if pattern == "default" else pattern
        try:
            self._regex = None if self.pattern is None else re.compile(self.pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(
                f"pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from exc
        if self._regex is not None and self._regex.groups:
            raise ConfigError(
                f"pattern {pattern!r} has capturing groups; write (?:...) instead of (...)."
            )
        self._ranks = ranks
        self._id_to_bytes = vocab + [name.encode("utf-8") for name in specials]
        self._special_names = {i: name for name, i in specials.items()}
        self._display_to_id: dict[str, int] | None = None
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        *,
        pattern: str | None = "default",
        special_tokens: Iterable[str] | None = None,
        progress: bool = False,
    ) -> ByteBPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        ``pattern``: ``"default"`` (GPT-2-like chunks), ``None`` (no pre-splitting: merges may
        cross spaces), or your own regular expression. Special tokens' text is cut out of the
        training text and gets ids after the merges. If the text runs out of pairs first,
        training stops early with a warning and the vocabulary is smaller than asked.
        """
        if isinstance(special_tokens, Mapping):  # ids are always assigned after the merges
            special_tokens = sorted(special_tokens, key=special_tokens.__getitem__)
        names = list(normalize_special_tokens(special_tokens, 0))
        hint = f" A byte-level BPE needs 256 byte tokens plus {len(names)} special token(s)."
        vocab_size = check_int("vocab_size", vocab_size, minimum=256 + len(names), hint=hint)
        if not isinstance(text, str):
            raise InputError(f"Expected training text as a str, got {type(text).__name__}.")
        if not text:
            raise InputError("Cannot train BPE on empty text; pass some training text.")
        untrained = cls([], names, pattern=pattern)
        segments = re.split("|".join(map(re.escape, names)), text) if names else [text]
        chunk_counts: Counter[bytes] = Counter()
        for segment in segments:
            chunk_counts.update(untrained._split(segment))
        encoded = {untrained._utf8(chunk): n for chunk, n in chunk_counts.items()}
        num_merges = vocab_size - 256 - len(names)
        merges, counts = learn_merges(encoded, num_merges, progress)
        if len(merges) < num_merges:
            warnings.warn(
                f"The training text ran out of pairs to merge after {len(merges)} of "
                f"{num_merges} merges, so the vocabulary has {256 + len(merges) + len(names)} "
                f"tokens instead of {vocab_size}. Train on more (or more varied) text.",
                stacklevel=2,
            )
        return cls(merges, names, pattern=pattern, merge_counts=counts)

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_bytes)

    def _split(self, text: str) -> list[str]:
        if self._regex is None:
            return [text] if text else []
        chunks = self._regex.findall(text)
        if sum(map(len, chunks)) != len(text):  # a custom pattern that would drop text
            raise ConfigError(
                f"The pattern {self.pattern!r} leaves some characters of the text out of every "
                "chunk, so they would be lost. End it with a catch-all alternative like |[\\s\\S]."
            )
        return chunks

    @staticmethod
    def _utf8(text: str) -> bytes:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TokenizerError(
                f"The text has a lone surrogate {text[exc.start]!r} (U+{ord(text[exc.start]):04X}),"
                " which is not valid Unicode and has no UTF-8 bytes. Read your file with "
                "errors='replace' to clean it."
            ) from exc

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for chunk in self._split(text):
            piece = cache.get(chunk)
            if piece is None:
                piece = apply_merges(list(self._utf8(chunk)), self._ranks)
                if len(chunk) <= _CACHEABLE_CHARS:
                    if len(cache) >= _CACHE_SIZE:
                        cache.clear()
                    cache[chunk] = piece
            ids.extend(piece)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens' bytes and read them as UTF-8.

        Ids that ``encode`` produced always give back the exact text. Other sequences may cut
        a character in half; those bytes become U+FFFD (the replacement character).
        """
        table = self._id_to_bytes
        return b"".join([table[i] for i in self._check_ids(ids)]).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of one token (a special token gives its text's UTF-8)."""
        return self._id_to_bytes[self._check_ids([token_id])[0]]

    def id_to_token(self, token_id: int) -> str:
        """The token as text; bytes that are only part of a character show as ``\\xe6``."""
        i = self._check_ids([token_id])[0]
        name = self._special_names.get(i)
        return (
            name if name is not None else self._id_to_bytes[i].decode("utf-8", "backslashreplace")
        )

    def token_to_id(self, token: str | bytes) -> int:
        """The id of a token given as raw bytes or in :meth:`id_to_token`'s form."""
        if isinstance(token, bytes):
            for i, data in enumerate(self._id_to_bytes[: 256 + len(self.merges)]):
                if data == token:
                    return i
        else:
            if token in self.special_tokens:
                return self.special_tokens[token]
            if self._display_to_id is None:
                self._display_to_id = {}
                for i in range(256 + len(self.merges)):
                    self._display_to_id.setdefault(self.id_to_token(i), i)
            if token in self._display_to_id:
                return self._display_to_id[token]
        raise TokenizerError(f"{token!r} is not a token of this vocabulary.")

    def merge_history(self) -> list[MergeStep]:
        """Every merge as readable text, in the order learned: (rank, left, right, merged, count)."""
        show = self.id_to_token
        counts = self.merge_counts or [None] * len(self.merges)
        return [
            MergeStep(rank, show(a), show(b), show(new), count)
            for rank, (((a, b), new), count) in enumerate(zip(self.merges, counts, strict=True))
        ]

    def _state(self, path: Path) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "merges": [list(pair) for pair, _ in self.merges],
            "merge_counts": self.merge_counts,
            "special_tokens": self.special_tokens,
            "roles": self.roles,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> ByteBPETokenizer:
        merges = state["merges"]
        if not isinstance(merges, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(type(x) is int for x in m) for m in merges
        ):
            raise TokenizerError(f'{path}: "merges" must be a list of [left_id, right_id] pairs.')
        return cls(
            [tuple(m) for m in merges],
            state["special_tokens"],
            pattern=state["pattern"],
            merge_counts=state["merge_counts"],
            roles=state["roles"],
        )

"""How varied, how fast and how self-consistent is the story world corpus?

Run: ``python -m bench.story_world_stats`` (``--tokens 100000`` for a quick run, ``--help``).

For each language it generates about ``--tokens`` tokens (English: runs of letters and single
punctuation marks; Chinese: every non-space character) and reports the vocabulary, the share of
distinct sentences among all sentences, and the generation speed; then it times the grammar
checker on a sample of generated sentences (which must all pass). Writes
``story_world-cpu.json`` and ``.md`` to the results folder. Introduced in chapter 2.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import RESULTS_DIR, Report
from lmkit.data import StoryWorld, is_grammatical, variety_stats
from lmkit.data.story_grammar import SENTENCE_KINDS, TEMPLATES
from lmkit.errors import ConfigError

__all__ = ["checker_speed", "main"]


def checker_speed(n_stories: int = 500, seed: int = 0) -> dict[str, dict[str, float]]:
    """Sentences per second of :func:`is_grammatical` and the share it accepts, per language."""
    world = StoryWorld(seed)
    frames = [world.frame() for _ in range(n_stories)]
    out = {}
    for lang in ("en", "zh"):
        sentences = [s for f in frames for s in world.render(f, lang).sentences]
        start = time.perf_counter()
        accepted = sum(is_grammatical(s, lang) for s in sentences)
        seconds = time.perf_counter() - start
        out[lang] = {
            "sentences": len(sentences),
            "accepted_share": accepted / len(sentences),
            "sentences_per_second": len(sentences) / seconds,
        }
    return out


def main(argv: list[str] | None = None) -> Report:
    """Command-line entry point: ``python -m bench.story_world_stats``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokens", type=int, default=1_000_000, help="tokens per language (default 1M)"
    )
    parser.add_argument(
        "--check-stories", type=int, default=500, help="stories for the checker timing"
    )
    parser.add_argument("--seed", type=int, default=0, help="StoryWorld seed (default 0)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help=f"results folder (default {RESULTS_DIR})"
    )
    args = parser.parse_args(argv)
    if args.tokens < 1 or args.check_stories < 1:
        raise ConfigError("--tokens and --check-stories must be positive integers.")

    stats = variety_stats(args.tokens, seed=args.seed)
    checker = checker_speed(args.check_stories, seed=args.seed)
    n_templates = sum(1 for t in TEMPLATES.values() if t.kind in SENTENCE_KINDS)
    report = Report(
        "story_world",
        "cpu",
        {"tokens_per_language": args.tokens, "seed": args.seed, "sentence_templates": n_templates},
    )
    for lang in ("en", "zh"):
        s, c = stats[lang], checker[lang]
        report.add_row(
            lang,
            tokens=s["tokens"],
            sentences=s["sentences"],
            distinct_sentences=s["distinct_sentences"],
            distinct_share=round(s["distinct_share"], 4),
            vocab_seen=s["vocab"],
            lexicon_words=s["lexicon_words"],
            gen_seconds=round(s["seconds"], 2),
            gen_tokens_per_s=round(s["tokens_per_second"]),
            check_sentences_per_s=round(c["sentences_per_second"]),
        )
        report.checks[f"{lang}: generated sentences accepted by the checker"] = (
            f"{c['accepted_share']:.2%} of {c['sentences']}"
        )
    report.notes += [
        "Tokens: English = runs of letters and single punctuation marks; Chinese = every "
        "non-space character. vocab_seen = distinct lower-cased English words / distinct Han "
        "characters in the generated text; lexicon_words = distinct word forms in the lexicon.",
        "distinct_share = distinct sentences / all sentences in the generated text.",
    ]
    report.finish()
    paths = report.write(args.out)
    print(report.to_markdown())
    print("wrote", *paths)
    return report


if __name__ == "__main__":
    main()

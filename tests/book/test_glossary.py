"""The merged glossary: parsed from every chapter's Key-terms table, one translation per term."""

from __future__ import annotations

import json
import re

import pytest

from lmkit.book.glossary import (
    chapter_terms,
    conflicts,
    describe_conflicts,
    merge,
    parse_key_terms,
    to_markdown,
)
from lmkit.errors import InputError

from .conftest import CHAPTERS

TABLE = """Some prose.

### Key terms · 术语对照

| English | 中文 | In one line |
|---|---|---|
| logits | logits（未归一化分数） | scores before the softmax |
| special token | 特殊标记 | `<|endoftext|>`, `[CLS]` |

After the table | not a row.
"""


def test_parse_reads_rows_and_keeps_bars_inside_code():
    terms = parse_key_terms(TABLE, chapter="04_x")
    assert [(t.english, t.chinese) for t in terms] == [
        ("logits", "logits（未归一化分数）"),
        ("special token", "特殊标记"),
    ]
    assert terms[1].gloss == "`<|endoftext|>`, `[CLS]`"
    assert parse_key_terms("no table here") == []


def test_merge_reports_a_term_translated_two_ways():
    first = parse_key_terms(TABLE, chapter="04_x")
    second = parse_key_terms(TABLE.replace("logits（未归一化分数）", "对数几率"), chapter="07_y")
    entries = merge(first + second)
    assert len(entries) == 2
    (clash,) = conflicts(entries)
    assert clash.english == "logits"
    assert clash.translations == {"logits(未归一化分数)": ["04_x"], "对数几率": ["07_y"]}
    assert "对数几率 (07_y)" in describe_conflicts(entries)


def test_full_width_brackets_and_spacing_are_not_a_conflict():
    a = parse_key_terms(TABLE, chapter="04_x")
    b = parse_key_terms(TABLE.replace("logits（未归一化分数）", "logits (未归一化分数)"), "05_y")
    assert conflicts(merge(a + b)) == []


def test_a_folder_without_chapters_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no chapter notebooks"):
        chapter_terms(tmp_path)
    bad = tmp_path / "01_bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read notebook"):
        chapter_terms(tmp_path)


@pytest.fixture(scope="module")
def book_entries():
    return merge(chapter_terms(CHAPTERS))


def test_every_chapter_contributes_terms():
    stems = {t.chapter for t in chapter_terms(CHAPTERS)}
    chapters = {p.stem for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb")}
    assert stems == chapters, f"chapters without a Key-terms table: {sorted(chapters - stems)}"


def test_no_term_is_translated_two_ways_across_chapters(book_entries):
    assert conflicts(book_entries) == [], describe_conflicts(book_entries)


def test_logits_are_never_log_odds(book_entries):
    # 对数几率 means log-odds, log(p / (1 - p)); logits are any unnormalised softmax inputs.
    logit_entries = [e for e in book_entries if "logit" in e.english.lower()]
    assert logit_entries, "the glossary has no entry for logits"
    for entry in logit_entries:
        for chinese in entry.translations:
            assert "对数几率" not in chinese, f"{entry.english} translated as {chinese}"


def test_weight_tying_is_binding_not_sharing(book_entries):
    (entry,) = [e for e in book_entries if e.english.lower() == "weight tying"]
    assert list(entry.translations) == ["权重绑定"], entry.translations


def test_rendered_glossary_links_each_chapter(book_entries):
    table = to_markdown(book_entries)
    assert table.count("\n") == len(book_entries) + 1  # header, rule, one row per term
    first_chapter = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))[0]
    assert f"]({first_chapter.name})" in table
    notebook = json.loads(first_chapter.read_text(encoding="utf-8"))
    assert notebook["cells"], "sanity: the chapter notebook has cells"


def test_bars_inside_cells_are_escaped_so_each_row_keeps_four_columns(book_entries):
    for row in to_markdown(book_entries).splitlines():
        unescaped = len(re.findall(r"(?<!\\)\|", row))
        assert unescaped == 5, row  # | a | b | c | d |
    assert "`<\\|endoftext\\|>`" in to_markdown(book_entries)

"""Every chapter cites only works in lmkit.book.references, and the detector finds citations."""

from __future__ import annotations

import json

import pytest

from lmkit.book.references import WORKS, Citation, find_citations, resolve, to_markdown

from .conftest import CHAPTERS

CHAPTER_PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")) + sorted(
    CHAPTERS.glob("appendix*.ipynb")
)


def _text(path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def test_the_detector_finds_each_written_form():
    text = (
        "as Vaswani et al. (2017) showed; GloVe (Pennington, Socher and Manning, 2014) and\n"
        "the LSTM (Hochreiter & Schmidhuber, 1997; Gers et al., 2000), ROUGE (Lin, 2004)."
    )
    found = {(c.names, c.year) for c in find_citations(text)}
    assert found == {
        (("Vaswani",), 2017),
        (("Socher", "Manning"), 2014),
        (("Hochreiter", "Schmidhuber"), 1997),
        (("Gers",), 2000),
        (("Lin",), 2004),
    }


def test_a_citation_resolves_only_to_a_work_with_those_authors_and_that_year():
    assert resolve(Citation(("Vaswani",), 2017, "")).key == "vaswani2017"
    assert resolve(Citation(("Devlin",), 2018, "")).key == "devlin2019"  # the arXiv year
    assert resolve(Citation(("Vaswani",), 2016, "")) is None
    assert resolve(Citation(("Hochreiter", "Bengio"), 1997, "")) is None


def test_keys_are_unique_and_every_work_has_year_and_venue():
    keys = [w.key for w in WORKS]
    assert len(keys) == len(set(keys))
    for work in WORKS:
        assert 1940 < work.year < 2030 and work.venue and work.title, work


def test_the_erratum_14_entries():
    by_key = {w.key: w for w in WORKS}
    assert "relaxation" in by_key["jang2017"].note and by_key["jang2017"].venue == "ICLR 2017"
    assert not any("gpt-3" in w.title.lower() and "repository" in w.title.lower() for w in WORKS)


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=[p.stem for p in CHAPTER_PATHS])
def test_chapter_cites_only_listed_works(path):
    citations = find_citations(_text(path))
    missing = sorted({c.text for c in citations if resolve(c) is None})
    assert not missing, f"{path.name} cites works not in lmkit/book/references.py: {missing}"


def test_the_chapters_cite_the_core_works():
    cited = {resolve(c).key for p in CHAPTER_PATHS for c in find_citations(_text(p)) if resolve(c)}
    assert {"vaswani2017", "brown2020", "hoffmann2022", "hochreiter1997", "papineni2002"} <= cited


def test_reference_list_has_one_anchored_bullet_per_work():
    listing = to_markdown()
    assert listing.count("\n- ") + 1 == len(WORKS)
    assert '<a id="vaswani2017"></a>Vaswani et al. (2017). *Attention Is All You Need.*' in listing

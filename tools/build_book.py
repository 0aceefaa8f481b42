"""Build the book as a static, searchable HTML site: ``make book``.

Each chapter notebook (and the appendix) is executed headless on the CPU, exactly as
tests/test_notebooks.py runs it (its own empty working folder, Hugging Face offline,
``LMKIT_HEADLESS=1``, no widget front end), then converted with nbconvert's lab template into
``OUT/<name>.html``. Nothing on the site comes from a CDN, so it works with no network:

- plotly figures: the kernel emits them as plotly JSON (``PLOTLY_RENDERER=plotly_mimetype``);
  each becomes a ``<div>`` drawn by one local copy of plotly.js (``assets/plotly.min.js``, taken
  from the installed plotly package);
- maths: MathJax 3 from ``node_modules/mathjax`` or ``--mathjax DIR`` when present (``make book``
  installs it with npm into _build/); without it formulas stay as TeX source;
- search: Pagefind (the ``pagefind[bin]`` package) indexes the pages after they are written.

Widgets need a live kernel: the static pages show their text fallback. Jupyter Book 2 was the
first choice, but its HTML theme is downloaded from api.mystmd.org at build time, which an
offline build cannot do. Introduced in the appendix.

    python tools/build_book.py --out _build/book [--only 01 13 appendix] [--no-execute]
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
TEMPLATES = Path(__file__).resolve().parent / "book_template"
CELL_TIMEOUT_S = 600
PLOTLY_JSON = "application/vnd.plotly.v1+json"


def book_notebooks(only: list[str] | None = None) -> list[Path]:
    """The chapters in order, then the appendix; ``only`` keeps names starting with a prefix."""
    paths = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")) + sorted(CHAPTERS.glob("appendix*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
    if not paths:
        raise SystemExit(f"no notebooks in {CHAPTERS} match {only}")
    return paths


def execute(notebook, workdir: Path) -> None:
    """Run every cell in ``workdir``, headless and offline, as the notebook test does."""
    import nbclient

    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    # As in tests/test_notebooks.py: no imitation of a widget front end (it can stall a cell).
    client.comm_open_handlers["jupyter.widget"] = lambda msg: None
    client.execute()


def plotly_outputs_to_html(notebook) -> int:
    """Replace plotly JSON outputs by a div that the site's local plotly.js draws."""
    import plotly.io as pio

    count = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get(PLOTLY_JSON)
            if figure is None:
                continue
            div = pio.to_html(
                figure,
                include_plotlyjs=False,
                full_html=False,
                validate=False,
                config={"responsive": True},
            )
            output["data"] = {"text/html": div}
            count += 1
    return count


def page_title(notebook, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match.group(1).strip()
    return fallback


def _nav_label(stem: str) -> str:
    return stem[:2] if stem[:2].isdigit() else stem.split("_")[0]


def link_pages(page_html: str, site_pages: set[str]) -> str:
    """Point links to book notebooks (``08_x.ipynb#anchor``) at their pages on the site."""

    def swap(match: re.Match) -> str:
        stem = Path(match.group(1)).stem
        if stem in site_pages:
            return f'href="{stem}.html{match.group(2) or ""}"'
        return match.group(0)

    return re.sub(r'href="([^"#]+)\.ipynb(#[^"]*)?"', swap, page_html)


def find_mathjax(explicit: Path | None) -> Path | None:
    for candidate in [
        explicit,
        ROOT / "_build" / "npm" / "node_modules" / "mathjax",
        ROOT / "node_modules" / "mathjax",
    ]:
        if candidate and (candidate / "es5" / "tex-chtml.js").is_file():
            return candidate / "es5"
    return None


def copy_assets(out: Path, mathjax: Path | None) -> None:
    import plotly

    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", assets)
    if mathjax:
        target = assets / "mathjax"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        shutil.copy(mathjax / "tex-chtml.js", target)
        shutil.copytree(
            mathjax / "output" / "chtml" / "fonts", target / "output" / "chtml" / "fonts"
        )


def write_index(out: Path, pages: list[dict]) -> None:
    items = "\n".join(
        f'<li><a href="{p["href"]}">{html.escape(p["title"])}</a></li>' for p in pages
    )
    (out / "index.html").write_text(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lmkit · the book</title>
<link href="pagefind/pagefind-ui.css" rel="stylesheet">
<script src="pagefind/pagefind-ui.js"></script>
<style>body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; max-width: 50em;
margin: 2em auto; }}</style></head>
<body><h1>lmkit · the book 大语言模型入门</h1>
<div id="search"></div>
<script>window.addEventListener("DOMContentLoaded", () =>
  new PagefindUI({{element: "#search", showImages: false}}));</script>
<ol>
{items}
</ol></body></html>
""",
        encoding="utf-8",
    )


def build(out: Path, notebooks: list[Path], *, run: bool, mathjax: Path | None) -> list[str]:
    """Write every page, the index and the search index; return the notebooks that failed.

    A notebook whose cell raises is still rendered (up to and including the traceback), so one
    broken chapter does not hide the others; the caller fails the build afterwards.
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    os.environ.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        LMKIT_HEADLESS="1",
        PLOTLY_RENDERER="plotly_mimetype",
    )
    # The kernel spec launches "python": make it this interpreter (the project's venv).
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out, mathjax)
    pages = [
        {"href": f"{p.stem}.html", "label": _nav_label(p.stem), "stem": p.stem} for p in notebooks
    ]
    exporter = HTMLExporter(template_name="lmkit_book", extra_template_basedirs=[str(TEMPLATES)])
    failed = []
    for path, page in zip(notebooks, pages, strict=True):
        start = time.perf_counter()
        notebook = nbformat.read(path, as_version=4)
        if run:
            with tempfile.TemporaryDirectory(prefix="lmkit-book-") as workdir:
                try:
                    execute(notebook, Path(workdir))
                except CellExecutionError as error:
                    failed.append(f"{path.name}: {str(error).strip().splitlines()[-1]}")
        figures = plotly_outputs_to_html(notebook)
        page["title"] = page_title(notebook, path.stem)
        resources = {
            "metadata": {"name": page["title"]},
            "book": {"root": "", "pages": pages, "mathjax": mathjax is not None},
        }
        body, _ = exporter.from_notebook_node(notebook, resources=resources)
        body = link_pages(body, {p["stem"] for p in pages})
        (out / page["href"]).write_text(body, encoding="utf-8")
        print(f"  {path.name}: {time.perf_counter() - start:.0f} s, {figures} figures", flush=True)
    write_index(out, pages)
    # The ¶ anchor links nbconvert puts in headings would end up in every result's title.
    search = ["--site", str(out), "--exclude-selectors", ".anchor-link", "--silent"]
    subprocess.run([sys.executable, "-m", "pagefind", *search], check=True)
    return failed


def folder_size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "book")
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 13 appendix")
    parser.add_argument("--no-execute", action="store_true", help="convert without running")
    parser.add_argument("--mathjax", type=Path, help="an unpacked mathjax@3 npm package")
    args = parser.parse_args(argv)
    notebooks = book_notebooks(args.only)
    mathjax = find_mathjax(args.mathjax)
    if mathjax is None:
        print("make book: MathJax not found (npm install mathjax@3); formulas stay as TeX.")
    start = time.perf_counter()
    failed = build(args.out, notebooks, run=not args.no_execute, mathjax=mathjax)
    seconds = time.perf_counter() - start
    print(
        f"make book: {len(notebooks)} pages in {seconds:.0f} s, "
        f"{folder_size_mb(args.out):.1f} MB in {args.out}"
    )
    if failed:
        raise SystemExit("make book: these notebooks raised:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    main()

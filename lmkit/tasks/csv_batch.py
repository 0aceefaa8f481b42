"""Read an uploaded file of texts (CSV or plain text), plan its batches, write a safe CSV back.

Introduced in chapter 11 for :class:`lmkit.tasks.classify_files.FileJob`. Reading never guesses
silently: :attr:`Table.notes` say what was done (CR-only line endings read as lines, Excel's
``sep=;`` line used, rows read from how many lines, texts over several lines), and what cannot be
read safely is an :class:`~lmkit.errors.InputError`: a CSV needs a header naming its text column
(``text_column`` or one of :data:`TEXT_COLUMN_NAMES`), so a header of other columns is refused
with the columns found; a quote that swallows the lines after it is refused, naming the row. A
file with no such header is one text per line, the first line included (with a note). Texts
with nothing visible (:func:`is_blank`) count as empty. :func:`write_csv` escapes formulas.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from lmkit.errors import InputError
from lmkit.validators import check_int

__all__ = [
    "TEXT_COLUMN_NAMES",
    "Table",
    "escape_formula",
    "is_blank",
    "plan_batches",
    "read_upload",
    "write_csv",
    "write_results",
]

# Column names taken as "the text" of an uploaded CSV, in order of preference.
TEXT_COLUMN_NAMES = ("text", "review", "sentence", "comment", "content", "body", "message")
_DELIMITERS = (",", "\t", ";")
_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}  # for sep= lines
MAX_CELL_LINES = 20  # a quoted cell over more lines than this is taken for an unclosed quote

# Characters that draw nothing but are not whitespace: fillers (Hangul, Braille blank), the
# combining grapheme joiner and variation selectors. Format characters (Cf: U+200B zero-width
# space, U+2060 word joiner, U+202E bidi override, U+FEFF…) are caught by their category.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f") | {
    chr(c) for c in [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
}


def is_blank(text: str) -> bool:
    """True if ``text`` shows nothing: only whitespace, control and format (Cf) characters."""
    return all(
        ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Zs")
        for ch in text
    )


@dataclass
class Table:
    """An upload read as rows: ``rows[i][text_index]`` is the text of row ``i``.

    ``delimiter`` is ``None`` for plain text (one text per line, ``header == ["text"]``).
    ``lines`` counts the lines in the file; ``notes`` say what was done, ready to show.
    """

    header: list[str]
    rows: list[list[str]]
    text_index: int
    delimiter: str | None
    lines: int
    notes: list[str] = field(default_factory=list)

    @property
    def text_column(self) -> str:
        return self.header[self.text_index]

    @property
    def todo(self) -> list[int]:
        """Indices of the rows with a visible text (the others keep empty result cells)."""
        return [i for i, row in enumerate(self.rows) if not is_blank(row[self.text_index])]


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded). Save it as UTF-8 "
            "(a .csv or .txt file) and upload it again."
        ) from exc
    if "\x00" in text:
        raise InputError("The file contains NUL bytes: it looks binary (or UTF-16). Upload UTF-8.")
    return text


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _pick_column(header: list[str], wanted: str | None) -> int | None:
    names = [h.strip().lower() for h in header]
    if wanted is not None:
        key = wanted.strip().lower()
        return names.index(key) if key in names else None
    for candidate in TEXT_COLUMN_NAMES:
        if candidate in names:
            return names.index(candidate)
    return None


def _columns(header: list[str]) -> str:
    return ", ".join(repr(h[:40]) for h in header[:12]) + (" …" if len(header) > 12 else "")


def _looks_like_a_header(lines: list[str], delimiter: str) -> list[str] | None:
    """The first line's fields if it looks like a CSV header: two or more short names, and the
    same number of fields on (nearly) every other line."""
    if not lines:
        return None
    header = _fields(lines[0], delimiter)
    if len(header) < 2 or not all(0 < len(h.strip()) <= 40 and len(h.split()) <= 4 for h in header):
        return None
    body = lines[1:200]
    same = sum(len(_fields(line, delimiter)) == len(header) for line in body)
    return header if same >= 0.9 * len(body) else None


def _sep_line(text: str) -> tuple[str | None, str]:
    """Excel's optional first line ``sep=X``: ``(delimiter, rest of the file)``."""
    first, _, rest = text.partition("\n")
    match = re.fullmatch(r"sep=(.+)", first.rstrip("\r"), flags=re.IGNORECASE)
    if match is None:
        return None, text
    value = match.group(1)
    delimiter = "\t" if value in ("\t", "\\t") else value.strip()
    if delimiter not in _NAMES:
        raise InputError(
            f"The first line {first[:40]!r} sets the delimiter to {value!r}; only comma, "
            "semicolon, tab or '|' can be read. Save the file with one of those."
        )
    if is_blank(rest):
        raise InputError("The file holds only its 'sep=' line: there is no text to classify.")
    return delimiter, rest


def read_upload(
    data: bytes, *, max_bytes: int, max_rows: int, text_column: str | None = None
) -> Table:
    """Read an uploaded file (see the module docstring) into a :class:`Table`.

    Raises :class:`InputError` for files over ``max_bytes`` or ``max_rows`` rows, bytes that are
    not UTF-8, an unknown or missing text column, broken quoting and files with no text.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be the file's bytes, got {type(data).__name__}.")
    max_bytes = check_int("max_bytes", max_bytes, minimum=1)
    max_rows = check_int("max_rows", max_rows, minimum=1)
    data = bytes(data)
    if len(data) > max_bytes:
        raise InputError(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,}. Upload a smaller file "
            "or split it."
        )
    text = _decode(data)
    if is_blank(text):
        raise InputError("The file is empty: it holds no text to classify.")
    notes: list[str] = []
    if "\r" in text and "\n" not in text:
        text = text.replace("\r", "\n")
        notes.append("The file's lines end with CR only (old Mac style); they were read as lines.")
    n_lines = text.count("\n") + (not text.endswith("\n"))
    sep, text = _sep_line(text)
    if sep is not None:
        notes.append(f"The first line sets the delimiter ({_NAMES[sep]}); it is not data.")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    delimiters = (sep,) if sep else _DELIMITERS
    for delimiter in delimiters:
        header = _fields(lines[0], delimiter)
        index = _pick_column(header, text_column)
        if index is not None:
            break
    else:
        found = [line for line in lines if line.strip()]
        columns = next(
            (h for h in (_looks_like_a_header(found, d) for d in delimiters) if h), None
        ) or (_fields(lines[0], sep) if sep else None)
        if text_column is not None:
            where = f"the columns found are {_columns(columns)}" if columns else (
                f"its first line is {lines[0][:80]!r}")  # fmt: skip
            raise InputError(
                f"No column named {text_column!r} in the file: {where}. Check the column name, "
                "or leave it empty to detect it."
            )
        if columns:
            raise InputError(
                f"The file looks like a CSV with the columns {_columns(columns)}, but none of them "
                f"has a name this reader knows for the texts ({', '.join(TEXT_COLUMN_NAMES)}). Name "
                "the column that holds the texts (the text column), or rename it to 'text'."
            )
        return _plain_lines(lines, n_lines, max_rows, notes)
    return _csv_rows(text, delimiter, index, n_lines, max_rows, notes, 1 + (sep is not None))


def _plain_lines(lines: list[str], n_lines: int, max_rows: int, notes: list[str]) -> Table:
    rows = [[line] for line in lines if not is_blank(line)]
    _check_rows(rows, max_rows)
    notes.append(
        f"No header naming a text column ({', '.join(TEXT_COLUMN_NAMES[:3])}…) was found, so the "
        f"file was read as plain text: {len(rows):,} texts, one per non-empty line of "
        f"{n_lines:,}, the first line included."
    )
    return Table(["text"], rows, 0, None, n_lines, notes)


def _check_rows(rows: list[list[str]], max_rows: int) -> None:
    if len(rows) > max_rows:
        raise InputError(
            f"The file has {len(rows):,} texts; the limit is {max_rows:,}. Split it into smaller "
            "files."
        )


def _csv_rows(
    text: str, delimiter: str, index: int, n_lines: int, max_rows: int, notes: list[str],
    first_line: int,
) -> Table:  # fmt: skip
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, spans, before = [], [], 0  # spans: first and last line of each row, as editors count
    try:
        for row in reader:
            rows.append(row)
            spans.append((before + first_line, reader.line_num + first_line - 1))
            before = reader.line_num
    except csv.Error as exc:
        raise InputError(f"The CSV file cannot be read: {exc}. Check its quoting.") from exc
    header, body, multi, blank = rows[0], [], [], 0
    for number, (row, (a, b)) in enumerate(zip(rows, spans, strict=True), start=1):
        if number == 1 or is_blank("".join(row)):
            blank += number > 1 and row != []
            continue
        if len(row) != len(header):
            raise InputError(
                f"CSV row {number} has {len(row)} fields but the header has {len(header)} (line "
                f'{a:,}). Quote texts that contain the delimiter ("like, this").'
            )
        if b > a:
            tail = text if number == len(rows) else None
            _check_quotes(row, number, (a, b), header, index, delimiter, tail)
            multi.append(f"row {number} (lines {a:,}–{b:,})")
        body.append(row)
    _check_rows(body, max_rows)
    if not body:
        raise InputError("The file has a header line but no rows: there is no text to classify.")
    if multi:
        notes.append(
            f"{len(multi):,} row(s) hold texts over several lines, e.g. {', '.join(multi[:3])}."
        )
    skipped = f"; {blank:,} row(s) with nothing visible skipped" if blank else ""
    notes.append(
        f"Read {len(body):,} row(s) from {n_lines:,} lines ({_NAMES[delimiter]}-separated, texts "
        f"in the column {header[index]!r}{skipped})."
    )
    return Table(header, body, index, delimiter, n_lines, notes)


def _row_like(line: str, header: list[str], index: int, delimiter: str) -> bool:
    """Whether a line inside a cell looks like a row of its own (short non-text fields)."""
    cells = _fields(line, delimiter)
    return len(cells) == len(header) >= 2 and all(
        len(c.strip()) <= 32 and len(c.split()) <= 2 for i, c in enumerate(cells) if i != index
    )


def _check_quotes(
    row: list[str], number: int, span: tuple[int, int], header: list[str], index: int,
    delimiter: str, tail: str | None,
) -> None:  # fmt: skip
    """Refuse a row whose quoted cell swallowed the lines after it (an unbalanced quote)."""
    for cell in row:
        parts = re.split(r"\r\n|\r|\n", cell)
        swallowed = sum(_row_like(p, header, index, delimiter) for p in parts[1:])
        unclosed = tail is not None and len(parts) > 1 and _ends_inside_quotes(tail)
        if unclosed or len(parts) > MAX_CELL_LINES or swallowed >= 3:
            how = "is never closed" if unclosed else f"closes only on line {span[1]:,}"
            raise InputError(
                f'CSV row {number}: a quote (") opens a cell on line {span[0]:,} and {how}, so '
                f"{span[1] - span[0]:,} more lines became part of one cell ({len(cell):,} "
                f"characters starting {cell[:30]!r}). Remove the stray quote or write it twice "
                '("") inside a quoted cell, then upload again.'
            )


def _ends_inside_quotes(text: str) -> bool:
    """True if the file ends inside a quoted cell (the csv module accepts that silently)."""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


# ------------------------------------------------------------------------------ writing
# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"). OWASP
# lists = + - @ TAB and CR; spreadsheets skip leading spaces, so those are looked past.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)*[.,]?|[.,]\d+)([eE][+-]?\d+)?%?")


def _leading_blank(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def escape_formula(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet could run it as a formula, else ``cell``.

    Following OWASP's CSV-injection advice: a cell that starts with a tab or a carriage return,
    or with ``=``, ``+``, ``-`` or ``@`` once leading whitespace, control and format characters
    are skipped, gets a ``'`` in front. Plain numbers (``-5``, ``+1.5``, ``-2e3``) stay as they are.
    """
    k = next((i for i, ch in enumerate(cell) if not _leading_blank(ch)), len(cell))
    risky = cell.startswith(("\t", "\r")) or cell[k:].startswith(_FORMULA_STARTS)
    return "'" + cell if risky and not _NUMBER.fullmatch(cell.strip()) else cell


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… if the input already has such a column."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def write_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """``header`` and ``rows`` as UTF-8 CSV (RFC 4180 line ends), safe to open in a spreadsheet.

    Every cell goes through :func:`escape_formula`. If any data cell was escaped, a last column
    ``escaped`` is added: in each row, the numbers (1 = first column) of the cells that got a
    ``'`` in front, separated by spaces, or nothing. A ``'`` that is not listed there was in the
    upload. (Column names are escaped the same way, without a record.) Without that column, no
    cell was changed.
    """
    safe_rows, marks = [], []
    for row in rows:
        safe = [escape_formula(cell) for cell in row]
        safe_rows.append(safe)
        marks.append(
            " ".join(str(k) for k, (a, b) in enumerate(zip(row, safe, strict=True), 1) if a != b)
        )
    out_header = [escape_formula(cell) for cell in header]
    if any(marks):
        out_header.append(escape_formula(free_name("escaped", set(header))))
        safe_rows = [[*row, mark] for row, mark in zip(safe_rows, marks, strict=True)]
    buffer = io.StringIO()
    # "\r\n" (RFC 4180) also makes the writer quote cells holding a bare "\r".
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(out_header)
    writer.writerows(safe_rows)
    return buffer.getvalue().encode("utf-8")


def write_results(
    table: Table, labels: tuple[str, ...], results: dict[int, tuple[list[float], bool]]
) -> bytes:
    """``table`` with ``predicted_label``, one ``p_<label>`` column per label and ``truncated``
    added, filled for the rows in ``results`` (row index → probabilities, truncated), as
    :func:`write_csv` writes it. Other rows keep empty result cells."""
    header, taken = table.header, set(table.header)
    added = [free_name(name, taken) for name in ("predicted_label", *(f"p_{x}" for x in labels))]
    added.append(free_name("truncated", taken))
    out = [[*row, *([""] * len(added))] for row in table.rows]
    for i, (probs, cut) in results.items():
        best = labels[max(range(len(probs)), key=probs.__getitem__)]
        out[i][len(header) :] = [best, *(f"{v:.6f}" for v in probs), str(cut).lower()]
    return write_csv([*header, *added], out)


def plan_batches(
    lengths: list[int], batch_size: int, max_tokens: int, window: int = 256
) -> list[list[int]]:
    """Batches of indices into ``lengths``: at most ``batch_size`` texts and ``max_tokens`` padded
    tokens each (a longer text goes alone), sorted by length within windows of ``window`` texts
    so that little padding is needed and the first rows are done first."""
    batches: list[list[int]] = []
    for start in range(0, len(lengths), window):
        batch: list[int] = []
        for i in sorted(range(start, min(start + window, len(lengths))), key=lengths.__getitem__):
            # sorted by length: the newest text is the longest, so it sets the padded width
            if batch and (len(batch) >= batch_size or (len(batch) + 1) * lengths[i] > max_tokens):
                batches.append(batch)
                batch = []
            batch.append(i)
        batches.append(batch)
    return batches

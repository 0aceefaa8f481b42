"""Find and redact personal data (PII) in English and Chinese text, by rules written by hand.

Introduced in chapter 15. :func:`find_pii` returns every :class:`PiiSpan` it finds; :func:`redact`
replaces them. The kinds:

- ``EMAIL``: ``name@domain.tld``;
- ``PHONE``: Chinese mobiles ``1[3-9]`` + 9 digits (with an optional ``+86`` / ``0086``
  prefix and ``-`` or space groups, ``138-1234-5678``), Chinese landlines with an area code
  (``010-12345678``, ``(0755) 1234567``, ``+86 10 12345678``), and other international
  numbers written with a ``+`` country code;
- ``CN_ID``: 18-character resident identity numbers (GB 11643-1999): a plausible birth date in
  digits 7-14 and the ISO 7064 MOD 11-2 check character at the end (:func:`cn_id_check_char`);
- ``CARD``: payment-card numbers of 13-19 digits (groups of 4 may be separated by a space or
  ``-``), starting with 3, 4, 5 or 6 and passing the Luhn check (:func:`luhn_valid`);
- ``IP``: IPv4 addresses with every part 0-255.

Rules are precise where a checksum exists (a random 18-digit number passes the ID check one
time in 11, a random card number passes Luhn one time in 10) and only patterns elsewhere, so
dates, order numbers and version strings are the usual false positives to test against (an
18-digit number with a wrong ID check character that happens to pass Luhn is reported as a card).
:func:`labelled_cases` reads the hand-labelled test set (``lmkit/data/pii_cases.tsv``, tricky
negatives and known misses included) that chapter 15 scores the rules on. Matching is ASCII-only: full-width digits (１３８…) are not found. Inputs over
:data:`MAX_CHARS` characters raise :class:`~lmkit.errors.InputError`: split them first.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

from lmkit.errors import InputError

__all__ = [
    "KINDS",
    "MAX_CHARS",
    "PiiSpan",
    "cn_id_check_char",
    "cn_id_valid",
    "find_pii",
    "labelled_cases",
    "luhn_valid",
    "redact",
]

MAX_CHARS = 1_000_000  # one call; longer text is split by the caller (linear time, but bounded)
KINDS = ("EMAIL", "PHONE", "CN_ID", "CARD", "IP")
# Earlier kinds win where two matches overlap: a valid ID is never also reported as a card.
_PRIORITY = {"EMAIL": 0, "CN_ID": 1, "CARD": 2, "PHONE": 3, "IP": 4}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
_ID_CHARS = "10X98765432"  # check character for (sum mod 11) = 0, 1, 2, ...

_NOT_BEFORE = r"(?<![0-9A-Za-z_@.+-])"
_NOT_AFTER = r"(?![0-9A-Za-z_@])"
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    re.ASCII,
)
_PHONES = (
    # Chinese mobile, optional +86 / 0086 prefix, optional 3-4-4 grouping
    re.compile(
        r"(?<![0-9A-Za-z_+])(?:(?:\+86|0086)[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z_])",
        re.ASCII,
    ),
    # Chinese landline: 0 + 2-3 digit area code, then 7-8 digits
    re.compile(r"(?<![0-9A-Za-z_+])(?:0\d{2,3}-|\(0\d{2,3}\) ?)\d{7,8}(?![0-9A-Za-z_-])", re.ASCII),
    # +86 landline without the leading 0 of the area code
    re.compile(r"(?<![0-9A-Za-z_])\+86[ -]?\d{2,3}[ -]\d{7,8}(?![0-9A-Za-z_-])", re.ASCII),
    # other international numbers: + country code, then groups of digits
    re.compile(r"(?<![0-9A-Za-z_])\+(?!86)[1-9]\d{0,2}(?:[ -]\d{2,4}){2,4}(?![0-9A-Za-z_-])",
               re.ASCII),
)  # fmt: skip
_CN_ID = re.compile(_NOT_BEFORE + r"\d{17}[\dXx]" + _NOT_AFTER, re.ASCII)
_CARD = re.compile(
    r"(?<![0-9A-Za-z_-])(?:[3-6]\d{12,18}|[3-6]\d{3}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?"
    r"|3[47]\d{2}[ -]\d{6}[ -]\d{5})(?![0-9A-Za-z_-])",
    re.ASCII,
)
_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z_]|\.\d)", re.ASCII)


@dataclass(frozen=True)
class PiiSpan:
    """One finding: ``text[start:end]`` is personal data of ``kind`` (one of :data:`KINDS`)."""

    start: int
    end: int
    kind: str
    text: str


def _digits(number: object, what: str) -> str:
    if not isinstance(number, str | int) or isinstance(number, bool):
        raise InputError(f"{what} must be a string of digits, got {type(number).__name__}.")
    digits = re.sub(r"[ -]", "", str(number))
    if not digits.isascii() or not digits.isdigit():
        raise InputError(f"{what} must hold digits only (spaces and '-' allowed), got {number!r}.")
    return digits


def luhn_valid(number: str | int) -> bool:
    """True when ``number`` passes the Luhn (mod 10) check of payment cards.

    From the right, every second digit is doubled (9 subtracted when it exceeds 9); the sum of
    all digits must be a multiple of 10. Spaces and hyphens are ignored.
    """
    digits = _digits(number, "number")
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def cn_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of a Chinese resident ID.

    The weighted sum of the first 17 digits (weights 2^(17-i) mod 11) picks the character that
    makes the full number's weighted sum, the check counting 1 (X = 10), leave 1 modulo 11.
    """
    digits = _digits(first17, "first17")
    if len(digits) != 17:
        raise InputError(f"first17 must have exactly 17 digits, got {len(digits)}.")
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=True))
    return _ID_CHARS[total % 11]


def cn_id_valid(number: str) -> bool:
    """True for an 18-character resident ID with a real birth date and the right check char."""
    if not isinstance(number, str) or not re.fullmatch(r"\d{17}[\dXx]", number, re.ASCII):
        return False
    try:
        born = _dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= _dt.date.today().year:
        return False
    return cn_id_check_char(number[:17]) == number[17].upper()


def _valid_ipv4(candidate: str) -> bool:
    parts = candidate.split(".")
    return all(int(p) <= 255 and (p == "0" or not p.startswith("0")) for p in parts)


def _candidates(text: str) -> list[PiiSpan]:
    found: list[PiiSpan] = []

    def add(kind: str, match: re.Match) -> None:
        found.append(PiiSpan(match.start(), match.end(), kind, match.group()))

    for match in _EMAIL.finditer(text):
        add("EMAIL", match)
    for pattern in _PHONES:
        for match in pattern.finditer(text):
            add("PHONE", match)
    for match in _CN_ID.finditer(text):
        if cn_id_valid(match.group()):
            add("CN_ID", match)
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            add("CARD", match)
    for match in _IPV4.finditer(text):
        if _valid_ipv4(match.group()):
            add("IP", match)
    return found


def find_pii(text: str) -> list[PiiSpan]:
    """Every piece of personal data in ``text``, in order, none overlapping another.

    Where two rules match overlapping text, the one with the stronger evidence wins (an e-mail
    over a phone number inside it, a checksummed ID over a card number), then the longer match.
    """
    if not isinstance(text, str):
        raise InputError(f"find_pii needs a string, got {type(text).__name__}.")
    if len(text) > MAX_CHARS:
        raise InputError(
            f"The text has {len(text):,} characters; find_pii takes at most {MAX_CHARS:,} at a "
            "time. Split it (by line or paragraph) and call it on each part."
        )
    ranked = sorted(_candidates(text), key=lambda s: (_PRIORITY[s.kind], -(s.end - s.start)))
    kept: list[PiiSpan] = []
    for span in ranked:
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def redact(text: str, replacement: str = "[{kind}]") -> str:
    """``text`` with every :func:`find_pii` span replaced by ``replacement.format(kind=...)``."""
    if not isinstance(replacement, str):
        raise InputError("replacement must be a string such as '[{kind}]' or '***'.")
    try:
        replacement.format(kind="EMAIL")
    except (KeyError, IndexError, ValueError) as error:
        raise InputError(
            f"replacement {replacement!r} may only use the field {{kind}}: {error}."
        ) from None
    pieces, position = [], 0
    for span in find_pii(text):
        pieces += [text[position : span.start], replacement.format(kind=span.kind)]
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "pii_cases.tsv"


def labelled_cases() -> list[tuple[str, list[tuple[str, str]]]]:
    """The hand-labelled set: ``(text, [(kind, surface), ...])`` per line, ``[]`` for none."""
    cases = []
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, expected = line.split("\t")
        pairs = [] if expected == "-" else [tuple(p.split("=", 1)) for p in expected.split("|")]
        cases.append((text, pairs))
    return cases

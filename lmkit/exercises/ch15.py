"""Chapter 15 exercises: the Luhn check of card numbers, the check character of a Chinese resident
ID, redacting e-mail addresses, an exact two-sided permutation test, and the F1 of a PII detector.

Introduced in chapter 15. The references are written here from the definitions, independent of
:mod:`lmkit.tasks.pii` (the tests check that lmkit's own functions pass). ``diagnose`` rebuilds
the usual slips on the case that failed (doubling from the left, forgetting to subtract 9; the
remainder used as the check digit, 10 returned instead of 'X', reversed weights; the e-mail
pattern that eats the sentence's full stop or the word before it; a one-sided test, a strict
">" that leaves out ties, the observed split left out of the count) and names the one it matches.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


def _first_equal(got: Any, slips: list[tuple[Any, str]]) -> str | None:
    for wrong, explanation in slips:
        if got == wrong:
            return explanation
    return None


def _random_digits(gen: torch.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in torch.randint(0, 10, (n,), generator=gen))


# ------------------------------------------------------------ 1. the Luhn check
def _luhn(number: str, from_left: bool = False, subtract: bool = True) -> bool:
    digits = [int(c) for c in number]
    if not from_left:
        digits = digits[::-1]
    total = 0
    for position, value in enumerate(digits):
        if position % 2 == 1:
            value *= 2
            if subtract and value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _luhn_valid(number: str) -> bool:
    return _luhn(number)


def _luhn_cases(gen: torch.Generator) -> list[Case]:
    cases = [Case(("4111111111111111",), "the test Visa number 4111 1111 1111 1111"),
             Case(("378282246310005",), "a 15-digit test Amex number"),
             Case(("4111111111111112",), "the test Visa number with its last digit changed"),
             Case(("79927398713",), "Wikipedia's Luhn example 7992739871 + check 3")]  # fmt: skip
    for n in (13, 16, 16, 19, 15, 16):
        body = _random_digits(gen, n - 1)
        check = next(d for d in "0123456789" if _luhn(body + d))  # half the cases valid
        last = check if int(torch.randint(0, 2, (1,), generator=gen)) else str((int(check) + 3) % 10)
        cases.append(Case((body + last,), f"a random {n}-digit number"))
    return cases


def _luhn_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (number,) = args
    return _first_equal(got, [
        (_luhn(number, from_left=True), "you doubled every second digit from the LEFT: Luhn "
         "counts from the right, so the check digit itself is never doubled."),
        (_luhn(number, subtract=False), "a doubled digit above 9 must be replaced by the sum of "
         "its digits (the same as subtracting 9)."),
    ])  # fmt: skip


register(
    Exercise(
        id="ch15.luhn_valid",
        title="the Luhn (mod 10) check of a card number given as a string of digits",
        kind="function",
        reference=_luhn_valid,
        make_cases=_luhn_cases,
        hints=("walk the digits from the right; double those at odd positions (1, 3, 5, …), "
               "subtract 9 from a result above 9; valid when the total is a multiple of 10.",),
        diagnose=_luhn_diagnose,
    )
)


# ------------------------------------------------------------ 2. the resident-ID check character
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def _id_check(first17: str, weights: list[int] = _WEIGHTS) -> str:
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def _id_cases(gen: torch.Generator) -> list[Case]:
    cases = [Case(("11010519491231002",), "GB 11643-1999's example 110105 19491231 002")]
    while len(cases) < 8:
        first17 = _random_digits(gen, 6) + "19" + _random_digits(gen, 2) + "0512" + _random_digits(gen, 3)
        cases.append(Case((first17,), "a random area code, birth date and sequence number"))
    return cases


def _id_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (first17,) = args
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _first_equal(got, [
        (10 if expected == "X" else None, "a check value of 10 is written as the letter 'X'."),
        (str((12 - total % 11) % 11), "return a one-character string: '0'-'9', or 'X' for 10."),
        (str(total % 11) if total % 11 < 10 else "X", "that is the remainder itself; the check "
         "character is (12 - remainder) % 11, so that the whole number's sum leaves 1."),
        (_id_check(first17, _WEIGHTS[::-1]), "the weights are reversed: the FIRST digit has "
         "weight 7 (2**17 mod 11), the 17th weight 2."),
        (int(expected) if expected != "X" else None, "return the character as a string."),
    ])  # fmt: skip


register(
    Exercise(
        id="ch15.cn_id_check_digit",
        title="the ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID",
        kind="function",
        reference=_id_check,
        make_cases=_id_cases,
        hints=("weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 (2**(17-i) % 11); S = Σ digit × "
               "weight; check = (12 - S % 11) % 11, written 'X' when it is 10.",),
        diagnose=_id_diagnose,
    )
)


# ------------------------------------------------------------ 3. redact e-mail addresses
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)


def _redact_emails(text: str) -> str:
    return _EMAIL.sub("[EMAIL]", text)


def _email_cases(gen: torch.Generator) -> list[Case]:
    users = ("tom", "lily.wang", "a_b+news", "xiaoming2024")
    hosts = ("example.com", "mail.example.cn", "school.edu.cn", "example.org")
    cases = [
        Case(("Write to tom@example.com.",), "an address at the end of a sentence"),
        Case(("我的邮箱是lily@example.cn，欢迎来信。",), "Chinese text around the address"),
        Case(("No address here, only @tom and a@b.",), "no real address"),
    ]
    for _ in range(3):
        u1, u2 = (users[int(i)] for i in torch.randint(0, 4, (2,), generator=gen))
        h1, h2 = (hosts[int(i)] for i in torch.randint(0, 4, (2,), generator=gen))
        cases.append(Case((f"Mail {u1}@{h1} or {u2}@{h2}. 谢谢！",), "two addresses"))
    return cases


def _email_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    (text,) = args
    return _first_equal(got, [
        (re.sub(r"\S+@\S+", "[EMAIL]", text), "\\S+@\\S+ swallows the punctuation (and Chinese "
         "text) around an address: allow only the characters an address can hold."),
        (_EMAIL.sub("[EMAIL]", text, count=1), "only the first address was replaced."),
        (_EMAIL.sub("[email]", text), "the replacement is '[EMAIL]', in capitals."),
    ])  # fmt: skip


register(
    Exercise(
        id="ch15.redact_emails",
        title="replace every e-mail address in a text with [EMAIL]",
        kind="function",
        reference=_redact_emails,
        make_cases=_email_cases,
        hints=(r"one pattern: [A-Za-z0-9._%+-]+@ then domain labels [A-Za-z0-9-]+ joined by dots, "
               r"ending in a dot and 2+ letters; re.sub(pattern, '[EMAIL]', text).",),
        diagnose=_email_diagnose,
    )
)


# ------------------------------------------------------------ 4. an exact permutation test
def _p_value(a, b, sided: int = 2, strict: bool = False, with_observed: bool = True) -> float:
    values, n_a = list(a) + list(b), len(a)

    def diff(group):
        rest = [v for i, v in enumerate(values) if i not in group]
        d = sum(values[i] for i in group) / n_a - sum(rest) / len(rest)
        return abs(d) if sided == 2 else d

    observed = diff(set(range(n_a)))
    extreme = total = 0
    for group in itertools.combinations(range(len(values)), n_a):
        if not with_observed and group == tuple(range(n_a)):
            continue
        d = diff(set(group))
        total += 1
        tolerance = 1e-12 * max(1.0, abs(observed))
        extreme += d > observed + tolerance if strict else d >= observed - tolerance
    return extreme / total


def _permutation_p_value(a, b):
    return _p_value(a, b)


def _perm_cases(gen: torch.Generator) -> list[Case]:
    def sample(n, shift):
        return [round(float(v), 3) for v in torch.randn(n, generator=gen) + shift]

    return [
        Case(([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), "three against three, fully separated"),
        Case(([1.0, 1.0, 2.0], [1.0, 2.0, 2.0]), "ties everywhere"),
        Case((sample(5, 0.0), sample(6, 0.0)), "5 and 6 values from the same distribution"),
        Case((sample(6, 1.5), sample(6, 0.0)), "6 and 6 values, the first group shifted up"),
        Case((sample(4, 0.0), sample(7, 0.8)), "4 and 7 values"),
    ]


def _perm_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    a, b = args
    return matching_slip(got, [
        (_p_value(a, b, sided=1), "that is a one-sided p-value (only differences in the observed "
         "direction): compare |mean(A') - mean(B')| with |mean(A) - mean(B)|."),
        (_p_value(a, b, sided=-1), "that is a one-sided p-value: use absolute differences."),
        (_p_value(a, b, strict=True), "ties were left out: count the splits whose difference is "
         "at least (>=) the observed one, the observed split included."),
        (_p_value(a, b, with_observed=False), "the observed split itself belongs to the count "
         "(and to the total): that is why a p-value is never 0."),
    ])  # fmt: skip


register(
    Exercise(
        id="ch15.permutation_p_value",
        title="the exact two-sided permutation p-value of a difference in means",
        kind="function",
        reference=_permutation_p_value,
        make_cases=_perm_cases,
        rtol=1e-9,
        atol=1e-12,
        hints=("pool the values; for every choice of len(a) positions (itertools.combinations) "
               "compute |mean(chosen) - mean(rest)|; p = share of splits at least as large as "
               "the observed one.",),
        diagnose=_perm_diagnose,
    )
)


# ------------------------------------------------------------ 5. the F1 of a detector
def _detector_f1() -> float:
    return 2 * 34 / (40 + 50)  # 40 flagged, 34 of them right, 50 real pieces of PII


register(
    Exercise(
        id="ch15.detector_f1",
        title="F1 of a PII detector that flags 40 spans, 34 correctly, on a set with 50",
        kind="value",
        reference=_detector_f1,
        rtol=1e-4,
        atol=1e-6,
        hints=("precision = 34 / 40, recall = 34 / 50, F1 = 2PR / (P + R).",),
        diagnose=lambda expected, got, args: matching_slip(got, [
            (34 / 40, "that is the precision only."), (34 / 50, "that is the recall only."),
            ((34 / 40 + 34 / 50) / 2, "that is the arithmetic mean; F1 is the harmonic mean."),
        ]),
    )
)

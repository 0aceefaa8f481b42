"""lmkit.validators: the one wording every integer and number check uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmkit.errors import ConfigError, InputError
from lmkit.validators import check_int, check_number, is_int, is_number


def test_is_int_and_is_number_refuse_bools_and_non_finite_values():
    assert is_int(3) and is_int(np.int64(3)) and not is_int(True) and not is_int(3.0)
    assert is_number(0.5) and is_number(np.float32(2)) and is_number(4)
    assert not is_number(True) and not is_number(math.nan) and not is_number(math.inf)
    assert not is_number("1")


def test_check_int_wording_and_error_class():
    assert check_int("n", np.int64(4), minimum=1) == 4
    assert type(check_int("n", np.int64(4))) is int
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 1, got 0\.$"):
        check_int("n", 0, minimum=1)
    with pytest.raises(InputError, match=r"^layer must be an integer in 0\.\.5, got 6\. Hi\.$"):
        check_int("layer", 6, maximum=5, hint=" Hi.", error=InputError)


def test_check_number_wording():
    assert check_number("x", 2) == 2.0
    with pytest.raises(ConfigError, match=r"^x must be a finite number, got nan\.$"):
        check_number("x", math.nan)
    with pytest.raises(ConfigError, match=r"^x must be a number >= 0, got -1\.$"):
        check_number("x", -1, minimum=0)
    with pytest.raises(ConfigError, match=r"^p must be a number in 0\.\.1, got 1\.5\.$"):
        check_number("p", 1.5, minimum=0, maximum=1)


def test_check_number_above_refuses_the_minimum_itself():
    assert check_number("lr", 1e-9, minimum=0, above=True) == 1e-9
    with pytest.raises(ConfigError, match=r"^lr must be a number > 0, got 0\.$"):
        check_number("lr", 0, minimum=0, above=True)
    with pytest.raises(ConfigError, match=r"^lr must be a number > 0, got inf\.$"):
        check_number("lr", math.inf, minimum=0, above=True)
    assert check_number("top_p", 1, minimum=0, maximum=1, above=True) == 1.0
    with pytest.raises(ConfigError, match=r"^top_p must be a number > 0 and <= 1, got 0\.0\.$"):
        check_number("top_p", 0.0, minimum=0, maximum=1, above=True)

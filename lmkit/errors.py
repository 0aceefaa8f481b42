"""One exception family for everything lmkit raises on purpose.

Every message says what was wrong and what to do next. Each class also derives from the
built-in exception a Python programmer would expect (``ValueError``, ``ImportError``, …), so
``except ValueError`` keeps working in code that does not know about lmkit.
"""

from __future__ import annotations


class LmkitError(Exception):
    """Base class of every error lmkit raises deliberately."""


class ConfigError(LmkitError, ValueError):
    """A setting is out of range or settings contradict each other."""


class InputError(LmkitError, ValueError):
    """Input data (text, token ids, tensors) is empty, malformed or of the wrong shape/dtype."""


class TokenizerError(InputError):
    """Text or ids a tokenizer cannot handle (unknown token, unknown id, bad vocabulary file)."""


class CheckpointError(LmkitError, OSError):
    """A checkpoint or weights file is missing, corrupted, or does not match the model."""


class MissingDependencyError(LmkitError, ImportError):
    """An optional dependency is not installed."""


class OfflineError(LmkitError, ConnectionError):
    """Something needs the network (a hub download) and the network is not reachable."""


__all__ = [
    "CheckpointError",
    "ConfigError",
    "InputError",
    "LmkitError",
    "MissingDependencyError",
    "OfflineError",
    "TokenizerError",
]

"""What visitors may type into the app's text boxes, for the pages' property tests.

No lone surrogates: a browser cannot send them (it sends U+FFFD), and AppTest cannot either.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from tricky_text import any_text

EXTREMES = [
    "",
    "   \n\t  ",
    "a" * 100_000,
    "我喜欢吃苹果。" * 15_000,  # 105,000 characters of Chinese
    "\x00\x01\x07\x1b[31m\x7f\u200b",
    "🍎👨\u200d👩\u200d👧🇨🇳 e\u0301",
    "Anna 喜欢 apples مرحبا Привет 🙂 <|endoftext|> [CLS] <script>x</script>",
]

page_text = st.one_of(st.sampled_from(EXTREMES), any_text, st.text(max_size=300))
"""Empty, whitespace, 100,000 characters, control characters, emoji, mixed scripts, random."""


def shown_messages(at) -> list[str]:
    """Every info/warning/success text a run showed."""
    return [m.value for m in [*at.info, *at.warning, *at.success]]


def page_settings(max_examples: int) -> settings:
    """Hypothesis settings for a property test that reruns one shared (module-scoped) AppTest:
    each example is a full script run, so no deadline and fewer examples."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )

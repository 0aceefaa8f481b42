"""`make wheelhouse`: the offline package folder, checked by a dry run (nothing is downloaded)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "instructor-guide.md"


def _dry_run(folder: str) -> list[list[str]]:
    """The pip commands `make wheelhouse` would run, split into words (make -n runs nothing)."""
    out = subprocess.run(["make", "-n", "wheelhouse", f"WHEELHOUSE={folder}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [shlex.split(line) for line in out.splitlines() if " -m pip download " in line]


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert match, f"Makefile defines no {name}"
    return match.group(1)


def test_wheelhouse_downloads_the_whole_lock_into_the_chosen_folder():
    commands = _dry_run("/tmp/room-wheels")
    assert len(commands) == 2, commands
    for words in commands:
        assert words[1:4] == ["-m", "pip", "download"], words
        assert words[words.index("-d") + 1] == "/tmp/room-wheels"
    lock = commands[0][commands[0].index("-r") + 1]
    assert (ROOT / lock).is_file() and lock == "requirements-lock.txt"


def test_wheelhouse_holds_what_an_offline_make_setup_installs_before_the_lock():
    (extra,) = [w for w in _dry_run("wheelhouse") if "-r" not in w]
    specs = [Requirement(word) for word in extra[4:] if not word.startswith("-")][:2]
    pins = {spec.name: spec for spec in specs}
    # make setup first installs this exact pip, then lmkit itself, whose build needs setuptools.
    assert str(pins["pip"].specifier) == f"=={_makefile_variable('PIP_VERSION')}"
    build = (ROOT / "pyproject.toml").read_text().split("[build-system]", 1)[1]
    needed = Requirement(re.search(r'requires = \["([^"]+)"\]', build).group(1))
    assert needed.name == "setuptools" and pins["setuptools"].specifier == needed.specifier


def test_the_guide_gives_the_offline_install_the_makefile_supports():
    guide = GUIDE.read_text(encoding="utf-8")
    assert "make wheelhouse" in guide
    assert 'PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/wheelhouse" make setup' in guide
    assert "pip install --no-index --find-links wheelhouse -r requirements-lock.txt" in guide
    assert re.search(r"^WHEELHOUSE \?= wheelhouse$", (ROOT / "Makefile").read_text(), flags=re.M)

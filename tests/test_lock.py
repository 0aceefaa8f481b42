"""requirements-lock.txt: what `make` installs, so that two fresh machines get the same versions."""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_entries() -> list[tuple[str, Version, Marker | None]]:
    """(name, version, marker) for every pinned line of the lock."""
    entries = []
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith((" ", "#", "-")):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # a lock line pins exactly one version
        assert spec.operator == "==", f"not a pin: {line!r}"
        entries.append((_normalise(requirement.name), Version(spec.version), requirement.marker))
    return entries


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra != "all":
            requirements += items
    return [Requirement(r) for r in requirements]


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert match, f"Makefile defines no {name}"
    return match.group(1)


def test_lock_pins_every_dependency_inside_pyprojects_range():
    locked: dict[str, list[Version]] = {}
    for name, version, _ in _lock_entries():
        locked.setdefault(name, []).append(version)
    for requirement in _pyproject_requirements():
        name = _normalise(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not in the lock; run `make lock`"
        for version in locked[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"the lock pins {name}=={version}, outside pyproject.toml's {requirement}"
            )


def test_lock_honours_lock_constraints():
    pins = {name: version for name, version, _ in _lock_entries()}
    for line in (ROOT / "lock-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            name = _normalise(requirement.name)
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {line}"


def test_lock_keeps_the_cuda_build_of_torch_for_linux_gpu_owners():
    text = LOCK.read_text()
    assert "download.pytorch.org/whl/cpu" not in text and "+cpu" not in text
    (torch,) = [(v, m) for name, v, m in _lock_entries() if name == "torch"]
    assert torch[1] is None, "torch must be locked on every platform"
    linux_cuda = [
        m for name, _, m in _lock_entries() if name == "nvidia-cublas" and m is not None
    ]
    assert linux_cuda and all(
        m.evaluate({"sys_platform": "linux", "platform_machine": "x86_64"}) for m in linux_cuda
    )
    assert not any(m.evaluate({"sys_platform": "darwin"}) for m in linux_cuda)


def test_oldest_tested_torch_is_pyprojects_lower_bound():
    (torch,) = [r for r in _pyproject_requirements() if _normalise(r.name) == "torch"]
    (lower,) = [s.version for s in torch.specifier if s.operator == ">="]
    assert Version(lower) == Version(_makefile_variable("OLDEST_TORCH"))


def test_every_make_target_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): pyproject.toml $(LOCK)\n", 1)[1].split("\n\n", 1)[0]
    assert "pip install -r $(LOCK)" in recipe
    assert "pip install --no-deps -e ." in recipe  # lmkit itself must not re-resolve anything
    for target in ("app", "test", "lab"):
        assert re.search(rf"^{target}: \$\(STAMP\)$", makefile, flags=re.M), target


@pytest.mark.skipif(
    os.environ.get("LMKIT_LOCKED_VENV") != "1",
    reason="checks the venv that `make test` builds from the lock (it sets LMKIT_LOCKED_VENV=1)",
)
def test_installed_versions_are_the_locked_ones():
    wrong = []
    for name, version, marker in _lock_entries():
        if marker is not None and not marker.evaluate():
            continue
        installed = Version(metadata.version(name))
        if installed != version:
            wrong.append(f"{name}: installed {installed}, locked {version}")
    assert not wrong, "the venv drifted from the lock; delete .venv and rerun make:\n" + "\n".join(
        wrong
    )

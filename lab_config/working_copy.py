"""The reader's own copy of the book, which `make lab` opens instead of the repository's chapters/.

JupyterLab saves (and autosaves) whatever it opens: outputs, widget state, kernel metadata. On
the repository's notebooks that dirties `git status` and breaks the stored-without-outputs
test, so readers work on a copy that git ignores:

    python lab_config/working_copy.py prepare lab   # `make lab`: create lab/ on first run
    python lab_config/working_copy.py reset lab     # `make lab-reset`: a fresh copy

``prepare`` never overwrites a reader's notebook: it copies chapters that the copy lacks (a new
chapter after `git pull`) and names the ones the repository has changed since they were copied.
``reset`` moves the old copy aside (to ``lab.backup-<time>``) before copying afresh, so no work
is ever lost. The notebooks need nothing next to them (their data ships inside lmkit), so a
copy anywhere works; the kernel is the .venv interpreter that runs JupyterLab.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
MANIFEST = ".copied-from-chapters.json"  # relative path -> sha256 of the chapter when copied


def _sources() -> dict[str, Path]:
    return {
        p.relative_to(CHAPTERS).as_posix(): p
        for p in sorted(CHAPTERS.rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in p.parts
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(copy: Path) -> list[str]:
    """Create or top up ``copy``; return the messages to show the reader."""
    fresh = not copy.exists()
    manifest_path = copy / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    added, changed = [], []
    for name, source in _sources().items():
        target = copy / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            manifest[name] = _digest(source)
            added.append(name)
        elif manifest.get(name) not in (None, _digest(source)):
            changed.append(name)
    copy.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    if fresh:
        return [
            f"make lab: your own copy of the book is {copy}/ ({len(added)} notebooks, solutions "
            "included). Save freely: the repository's chapters/ stay untouched."
        ]
    messages = [f"make lab: added to {copy}/: {name}" for name in added]
    if changed:
        messages.append(
            f"make lab: updated in chapters/ since your copy was made: {', '.join(changed)}. "
            "`make lab-reset` gives you a fresh copy (yours is kept as a backup)."
        )
    return messages


def reset(copy: Path) -> list[str]:
    messages = []
    if copy.exists():
        backup = copy.with_name(f"{copy.name}.backup-{time.strftime('%Y%m%d-%H%M%S')}")
        copy.rename(backup)
        messages.append(f"make lab-reset: your previous copy is now {backup}/")
    return messages + prepare(copy)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("prepare", "reset"):
        print("usage: python lab_config/working_copy.py prepare|reset FOLDER", file=sys.stderr)
        return 2
    action = prepare if argv[0] == "prepare" else reset
    for message in action(Path(argv[1]).expanduser()):
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

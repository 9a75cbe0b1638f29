"""
Development tasks, with nothing but Python and pip needed beforehand.

    python3 dev.py example   run the main example (examples/roofing.py)
    python3 dev.py test      run the whole test suite (tests, examples, code in docs)
    python3 dev.py lint      ruff (lint and format check) and mypy --strict
    python3 dev.py docs      build the documentation site into docs/_build/html (warnings fail)

Each task first creates ``.venv`` beside this file and installs funnelkit into it with the
``dev`` extra, and does so again whenever ``pyproject.toml`` changes.
Extra arguments go to the tool, e.g. ``python3 dev.py test -k converter``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path


ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / "funnelkit-install.sha256"


def _run(*command: str | Path) -> int:
    print("$", " ".join(str(part) for part in command), flush=True)
    return subprocess.call([str(part) for part in command], cwd=ROOT)


def ensure_venv() -> None:
    """Create the virtual environment and install funnelkit[dev] if not done for this pyproject."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == wanted:
        return
    if not PYTHON.exists():
        print(f"creating the virtual environment in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    steps = [
        (PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        (PYTHON, "-m", "pip", "install", "--quiet", "--editable", f"{ROOT}[dev]"),
    ]
    for step in steps:
        if _run(*step) != 0:
            sys.exit("installing funnelkit[dev] failed; see pip's output above")
    STAMP.write_text(wanted, encoding="utf-8")


def example(args: list[str]) -> int:
    """Run the main example."""
    return _run(PYTHON, ROOT / "examples" / "roofing.py", *args)


def test(args: list[str]) -> int:
    """Run the test suite; pytest's exit code 5 (no tests ran) counts as a failure."""
    return _run(PYTHON, "-m", "pytest", *args)


def lint(args: list[str]) -> int:
    """Run ruff's linter and format check, then mypy --strict; fail if any fails."""
    failures = 0
    failures += _run(PYTHON, "-m", "ruff", "check", ".", *args) != 0
    failures += _run(PYTHON, "-m", "ruff", "format", "--check", ".") != 0
    failures += _run(PYTHON, "-m", "mypy", "--strict") != 0
    return 1 if failures else 0


def docs(args: list[str]) -> int:
    """Build the documentation site with Sphinx; any warning fails the build."""
    build = ROOT / "docs" / "_build" / "html"
    return _run(
        PYTHON, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", *args, "docs", build
    )


TASKS = {"example": example, "test": test, "lint": lint, "docs": docs}


def main() -> int:
    """Run the task named on the command line."""
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:  # noqa: PLR2004 - program name + task
        print(__doc__)
        return 2
    ensure_venv()
    return TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

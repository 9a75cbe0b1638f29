"""
Development tasks, with nothing but Python and pip needed beforehand.

    python3 dev.py example   run the main example (examples/roofing.py)
    python3 dev.py test      run the whole test suite (tests, examples, code in docs)
    python3 dev.py lint      ruff (lint and format check) and mypy --strict
    python3 dev.py docs      build the documentation site into docs/_build/html (warnings fail)

Each task first creates a virtual environment beside this file and installs what it needs, and
does so again whenever ``pyproject.toml`` changes: ``.venv`` gets funnelkit with its
``testing``, ``postgresql``, ``columnar`` and ``adbc`` extras and the ``dev`` dependency group
(test, lint and docs tools); ``.venv-example`` gets funnelkit alone, all the main example needs.
``FUNNELKIT_VENV=.venv-3.13 python3.13 dev.py test`` runs the suite on another Python.
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


class _Env:
    """A virtual environment beside this file and what is installed into it."""

    def __init__(self, name: str, target: str, *options: str) -> None:
        self.path = ROOT / name
        folder = self.path / ("Scripts" if os.name == "nt" else "bin")
        self.python = folder / ("python.exe" if os.name == "nt" else "python")
        self.install = (f"{ROOT}{target}", *options)

    def ensure(self) -> Path:
        """Create it and install into it, unless done already for this pyproject; its python."""
        wanted = hashlib.sha256(
            (ROOT / "pyproject.toml").read_bytes() + " ".join(self.install).encode()
        ).hexdigest()
        stamp = self.path / "funnelkit-install.sha256"
        if self.python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
            return self.python
        if not self.python.exists():
            print(f"creating the virtual environment in {self.path.name}/", flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(self.path)
        steps: list[tuple[str | Path, ...]] = [
            # pip 25.1 is the first to install PEP 735 dependency groups (--group).
            (self.python, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1"),
            (self.python, "-m", "pip", "install", "--quiet", "--editable", *self.install),
        ]
        for step in steps:
            if _run(*step) != 0:
                sys.exit(f"installing into {self.path.name} failed; see pip's output above")
        stamp.write_text(wanted, encoding="utf-8")
        return self.python


DEV = _Env(
    os.environ.get("FUNNELKIT_VENV", ".venv"),
    "[testing,postgresql,columnar,adbc]",
    "--group",
    "dev",
)
EXAMPLE = _Env(".venv-example", "")
PYTHON = DEV.python


def _run(*command: str | Path) -> int:
    print("$", " ".join(str(part) for part in command), flush=True)
    return subprocess.call([str(part) for part in command], cwd=ROOT)


def example(args: list[str]) -> int:
    """Run the main example, in an environment holding funnelkit alone."""
    return _run(EXAMPLE.ensure(), ROOT / "examples" / "roofing.py", *args)


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
    if sys.argv[1] != "example":
        DEV.ensure()
    return TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

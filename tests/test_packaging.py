"""What the wheel ships: every package, every style sheet, every lesson."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.paths import ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_python_package_is_listed():
    """An editable install finds unlisted subpackages; a real install does not."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("engine", "tutor") for p in (ROOT / top).rglob("*.py")}
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {found - listed}"


def test_style_sheets_and_lessons_are_package_data():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    patterns = [f"{package}/{glob}".replace("tutor/", "", 1) for package, globs in data.items()
                for glob in globs if package == "tutor"]
    for sheet in (ROOT / "tutor").rglob("*.tcss"):
        relative = sheet.relative_to(ROOT / "tutor").as_posix()
        assert any(Path(relative).match(p) for p in patterns), f"{relative} is not shipped"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"]["tutor.lesson_files"] == "lessons"
    assert "*.toml" in data["tutor.lesson_files"]
    assert len(list((ROOT / "lessons").glob("[0-9][0-9]-*.toml"))) >= 14

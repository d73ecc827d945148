"""Where the grammar and the bundled guidelines live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # src/spinerules, or the installed package


def data_dir(name: str) -> Path:
    """The ``grammar`` or ``guidelines`` folder: inside the wheel, else the checkout root."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent.parent / name


def grammar_path() -> Path:
    """The path of ``spinerules.lark``."""
    return data_dir("grammar") / "spinerules.lark"


def guidelines_dir() -> Path:
    """The folder of bundled guidelines (each a sub-folder with ``<name>.rules``)."""
    return data_dir("guidelines")


def bundled(name: str) -> Path | None:
    """The entry file of a bundled guideline by name (``"vcf"``), or None."""
    if not name.replace("_", "").replace("-", "").isalnum():
        return None
    entry = guidelines_dir() / name / f"{name}.rules"
    return entry if entry.is_file() else None


def bundled_names() -> list[str]:
    """Names of the bundled guidelines."""
    root = guidelines_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.rules").is_file())

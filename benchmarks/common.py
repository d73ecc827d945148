"""Shared helpers: the repository root, import path, timing, machine facts, tables."""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

try:  # the package should be importable (installed, or PYTHONPATH=src); fall back to src/
    import spinerules  # noqa: F401
except ImportError:  # pragma: no cover - depends on how the script is started
    sys.path.insert(0, str(REPO / "src"))


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_record(fn: Callable[[Any], Any], inputs: list[Any], *, max_repeats: int = 3,
               budget_s: float = 6.0) -> tuple[float, int, list[Any]]:
    """Seconds per record over ``inputs`` (best pass), the number of passes, and the outputs
    of the last pass (for checking). Passes repeat while the total stays under ``budget_s``."""
    best = float("inf")
    passes = 0
    spent = 0.0
    outputs: list[Any] = []
    while passes < max_repeats and (passes == 0 or spent + best < budget_s):
        gc.collect()
        t0 = time.perf_counter()
        outputs = [fn(x) for x in inputs]
        dt = time.perf_counter() - t0
        spent += dt
        best = min(best, dt)
        passes += 1
    return best / len(inputs), passes, outputs


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    import spinerules

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_model(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "spinerules": getattr(spinerules, "__version__", version("spinerules")),
        "lark": version("lark"),
        "attrs": version("attrs"),
        "cattrs": version("cattrs"),
        "rule-engine": version("rule-engine"),
        "cel-python": version("cel-python"),
        "zen-engine": version("zen-engine"),
        "panzi-json-logic": version("panzi-json-logic"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self, level: int = 3) -> str:
        out = [f"{'#' * level} {self.title}", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.headers)))
               + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def text(self) -> str:
        cells = [self.headers, *self.rows]
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(self.headers))]

        def line(r: list[str]) -> str:
            return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True)))

        out = [self.title, "=" * min(len(self.title), 100), line(self.headers),
               line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += [f"  {n}" for n in self.notes]
        return "\n".join(out) + "\n"

"""Deterministic synthetic patients for the evaluation benchmark (seeded ``random.Random``).

Each patient is a JSON-like dict in the ``spine.Patient`` shape of docs/integrators/records.md.
Ranges are plausible for an osteoporotic-fracture clinic: mostly older adults, mostly
low-energy compression fractures, one to three fractures, a minority with red flags. About
10% of the facts are missing: each leaf is absent with probability ``MISSING`` and each
sub-record (``neuro``, ``symptoms``, ...) with probability ``MISSING_BLOCK``.
"""

from __future__ import annotations

import random
from typing import Any

MISSING = 0.10
MISSING_BLOCK = 0.03

LEVELS = ([f"T{i}" for i in range(4, 13)] + [f"L{i}" for i in range(1, 6)])
# thoracolumbar junction fractures are the most common
LEVEL_WEIGHTS = [1, 1, 2, 2, 3, 4, 5, 8, 10, 12, 8, 5, 3, 2]
PAIN_WEIGHTS = [1, 1, 2, 4, 6, 8, 10, 10, 8, 5, 3]  # 0..10, most patients 4 to 8


def _maybe(rng: random.Random, value: Any) -> Any:
    return None if rng.random() < MISSING else value


def _flag(rng: random.Random, p_true: float) -> bool | None:
    return _maybe(rng, rng.random() < p_true)


def _block(rng: random.Random, fields: dict[str, Any]) -> dict[str, Any] | None:
    if rng.random() < MISSING_BLOCK:
        return None
    return {k: v for k, v in fields.items() if v is not None}


def _fracture(rng: random.Random) -> dict[str, Any]:
    r = rng.random
    mechanism = rng.choices(["low_energy", "none", "high_energy"], [75, 15, 10])[0]
    morphology = rng.choices(["compression", "burst", "translation_rotation", "distraction"],
                             [85, 11, 2, 2])[0]
    f = {
        "level": _maybe(rng, rng.choices(LEVELS, LEVEL_WEIGHTS)[0]),
        "mechanism": _maybe(rng, mechanism),
        "height_loss_pct": _maybe(rng, round(min(80.0, max(0.0, rng.gauss(24, 12))), 1)),
        # edema is only known when an MRI was done: missing more often
        "marrow_edema": None if r() < 0.25 else rng.random() < 0.7,
        "weeks_since_onset": _maybe(rng, round(rng.expovariate(1 / 6), 1)),
        "morphology": _maybe(rng, morphology),
        "posterior_ligament": _maybe(rng, rng.choices(["intact", "indeterminate", "injured"],
                                                      [88, 8, 4])[0]),
        "pain_at_level_confirmed": _flag(rng, 0.7),
    }
    return {k: v for k, v in f.items() if v is not None}


def patient(rng: random.Random, i: int) -> dict[str, Any]:
    """One synthetic patient."""
    r = rng.random
    age = 6 + int(rng.random() * 12) if r() < 0.02 else min(100, max(18, int(rng.gauss(72, 11))))
    p: dict[str, Any] = {
        "id": f"p{i:06d}",
        "age": _maybe(rng, age),
        "sex": _maybe(rng, "female" if r() < 0.7 else "male"),
        "fractures": None if r() < MISSING_BLOCK else [
            _fracture(rng) for _ in range(rng.choices([1, 2, 3], [70, 22, 8])[0])],
        "prior_vertebral_fractures": _maybe(rng, rng.choices([0, 1, 2, 3], [60, 25, 10, 5])[0]),
        "neuro": _block(rng, {
            "deficit": _flag(rng, 0.04),
            "cauda_equina_signs": _flag(rng, 0.01),
            "cord_or_conus_compression": _flag(rng, 0.01),
            "nerve_root_injury": _flag(rng, 0.03),
        }),
        "symptoms": _block(rng, {
            "pain_score": _maybe(rng, rng.choices(range(11), PAIN_WEIGHTS)[0]),
            "fever": _flag(rng, 0.04),
            "improving": _flag(rng, 0.6),
        }),
        "labs": _block(rng, {"inflammatory_markers_elevated": _flag(rng, 0.08)}),
        "history": _block(rng, {
            "cancer": _flag(rng, 0.08),
            "immunosuppressed": _flag(rng, 0.08),
            "high_fall_risk": _flag(rng, 0.3),
        }),
        "analgesia": _block(rng, {
            "failed_oral": _flag(rng, 0.3),
            "oral_contraindicated": _flag(rng, 0.05),
            "nsaid_contraindicated": _flag(rng, 0.3),
            "hospitalized_for_pain": _flag(rng, 0.1),
        }),
        "bone_health": _block(rng, {
            "dexa_done": _flag(rng, 0.4),
            "on_treatment": _flag(rng, 0.3),
            "t_score": _maybe(rng, round(min(3.0, max(-5.0, rng.gauss(-2.3, 1.0))), 1)),
        }),
        "augmentation_contraindication": (
            "uncorrectable_coagulopathy" if r() < 0.04 else None),
    }
    return {k: v for k, v in p.items() if v is not None}


def generate(n: int, seed: int = 20260218) -> list[dict[str, Any]]:
    """``n`` patients, the same ones for the same seed."""
    rng = random.Random(seed)
    return [patient(rng, i) for i in range(n)]


BLOCKS = ("neuro", "symptoms", "labs", "history", "analgesia", "bone_health", "imaging")


def sparse(p: dict[str, Any]) -> dict[str, Any]:
    """The peers' input form: missing facts are absent keys, and a missing sub-record is an
    empty object (so ``neuro.deficit`` is absent rather than an error in every engine)."""
    out = dict(p)
    for block in BLOCKS:
        out[block] = dict(p.get(block) or {})
    if "fractures" in p:
        out["fractures"] = [dict(f) for f in p["fractures"]]
    return out

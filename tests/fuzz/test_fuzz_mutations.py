"""Fuzzing (b): token- and line-level mutations of the bundled guideline files
(guidelines/**/*.rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import check_rules_bytes, examples, mutate, mutation_bases, tokens

pytestmark = pytest.mark.fuzz

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=examples(ci=1200, long=24_000))

# (kind, i, j): kinds 0-4 act on tokens (delete, duplicate, swap, replace, insert a copy),
# 5-8 on lines (delete, duplicate, swap, re-indent); i and j are taken modulo the size.
OPS = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 1 << 16), st.integers(0, 1 << 16)),
               min_size=1, max_size=6)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_mutations")


def test_the_bases_check_clean() -> None:
    """Unmutated, each base (its header + the files it needs + the file) has no error."""
    from spinerules import api

    assert mutation_bases()
    for name, context, text in mutation_bases():
        diags = api.check("/nonexistent/x.rules", root="/nonexistent", text=context + text)
        assert not [d for d in diags if d.is_error], name


@SETTINGS
@given(base=st.integers(0, 1 << 20), ops=OPS)
def test_mutated_bundled_guideline_files(folder: Path, base: int, ops: list[tuple[int, int, int]]
                                         ) -> None:
    bases = mutation_bases()
    _name, context, text = bases[base % len(bases)]
    mutated = mutate(tokens(text), ops)
    check_rules_bytes((context + mutated).encode("utf-8", "surrogatepass"), folder)

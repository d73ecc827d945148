"""The examples in the library's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import spinerules

MODULES = sorted(m.name for m in pkgutil.walk_packages(spinerules.__path__, "spinerules."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_library_has_examples() -> None:
    attempted = sum(doctest.testmod(importlib.import_module(m)).attempted for m in MODULES)
    assert attempted >= 20

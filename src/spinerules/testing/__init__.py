"""Testing guidelines: the case runner, MC/DC coverage, property checks, record strategies and
the pytest plugin. Builds on the public API.

``runner`` (test blocks and YAML case files), ``coverage``, ``properties`` and ``strategies``
(both need Hypothesis, the ``strategies`` extra), ``pytest_plugin``. The runner's names are
re-exported here, so ``from spinerules.testing import run_case`` works as it always has.
"""

from spinerules.testing.runner import (
    DEFAULT_AS_OF,
    Case,
    CaseResult,
    GuidelineCache,
    cases_from_guideline,
    cases_from_yaml,
    collect,
    describe_failure,
    run_case,
    run_cases,
)

__all__ = [
    "DEFAULT_AS_OF",
    "Case",
    "CaseResult",
    "GuidelineCache",
    "cases_from_guideline",
    "cases_from_yaml",
    "collect",
    "describe_failure",
    "run_case",
    "run_cases",
]

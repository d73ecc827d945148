"""Issue #19, point 7: worker pools. A loaded ``Guideline`` pickles (as its source texts
and their hashes; unpickling parses and checks them again, in memory), and every error the
project raises crosses a process boundary with its type, message and details intact."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import pytest

import spinerules
from spinerules import api
from spinerules.lang.diagnostics import GuidelineError
from spinerules.lang.printer import UnsafeFormatError
from spinerules.lang.resources import guidelines_dir
from spinerules.records import RecordError

AS_OF = datetime.date(2026, 2, 18)
EXAMPLES = guidelines_dir().parent / "examples" / "patients"
BAD_GUIDELINE = 'guideline g "G"\n  record spine.Patient\nrule r:\n  when nothing\n  recommend x\n'


def patients() -> list[dict[str, Any]]:
    """Every example patient, and variations of each (ages, levels, missing parts)."""
    out: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        base = json.loads(path.read_text(encoding="utf-8"))
        out.append(base)
        for age in (8, 45, 90):
            out.append({**base, "age": age})
        out.append({k: v for k, v in base.items() if k not in ("neuro", "symptoms")})
    return out


def evaluate(g: spinerules.Guideline, patient: dict[str, Any]) -> tuple[str, list[str]]:
    """What a worker sends back: the result JSON and the fast path's codes."""
    try:
        dumped = g.evaluate(patient, as_of=AS_OF).dumps()
    except (RecordError, spinerules.EvaluationFailedError) as exc:
        dumped = f"{type(exc).__name__}: {exc}"
    try:
        codes = sorted(g.codes(patient, as_of=AS_OF))
    except (RecordError, spinerules.EvaluationFailedError) as exc:
        codes = [f"{type(exc).__name__}: {exc}"]
    return dumped, codes


def evaluate_shipped(args: tuple[spinerules.Guideline, dict[str, Any]]) -> tuple[str, list[str]]:
    g, patient = args
    return evaluate(g, patient)


def raise_error(kind: str) -> None:
    """Raise one of the project's errors, made the way the library makes it."""
    if kind == "GuidelineError":
        spinerules.loads(BAD_GUIDELINE, name="/nonexistent/g.rules", root="/nonexistent")
    elif kind == "RecordError":
        spinerules.load("vcf").evaluate({"age": "72", "neuro": {"deficit": 1}}, as_of=AS_OF)
    elif kind == "EvaluationFailedError":
        g = spinerules.load("vcf", limits=spinerules.Limits(max_steps=1))
        g.evaluate({"fractures": [{"level": "L1"}] * 5}, as_of=AS_OF)
    elif kind == "UnsafeFormatError":
        raise UnsafeFormatError("g.rules", "a comment would move")
    raise AssertionError(f"{kind} was not raised")


ERRORS = ["GuidelineError", "RecordError", "EvaluationFailedError", "UnsafeFormatError"]


def details(exc: BaseException) -> object:
    """What must survive the trip, beyond the type and message."""
    if isinstance(exc, GuidelineError):
        return ([d.to_json() for d in exc.diagnostics], sorted(exc.sources))
    if isinstance(exc, RecordError):
        return ([str(p) for p in exc.problems], exc.source)
    if isinstance(exc, spinerules.EvaluationFailedError):
        return exc.diagnostic.to_json()
    if isinstance(exc, UnsafeFormatError):
        return (exc.name, exc.reason)
    raise AssertionError(type(exc))


def caught(kind: str) -> BaseException:
    try:
        raise_error(kind)
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize("kind", ERRORS)
def test_each_error_round_trips_through_pickle(kind: str) -> None:
    exc = caught(kind)
    assert type(exc).__name__ == kind
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc)
    assert str(again) == str(exc)
    assert details(again) == details(exc)


def test_a_guideline_round_trips_through_pickle() -> None:
    g = spinerules.load("vcf")
    api._REBUILT.clear()  # rebuild for real, not from this process's cache
    again = pickle.loads(pickle.dumps(g))
    assert again is not g
    assert again.sha256 == g.sha256 and again.info() == g.info()
    assert again.limits == g.limits and again.record_type is g.record_type
    for patient in patients()[:20]:
        assert evaluate(again, patient) == evaluate(g, patient)
    assert pickle.loads(pickle.dumps(g)) is again  # rebuilt once per process


def test_a_guideline_from_a_string_with_imports_and_limits_round_trips(tmp_path: Path) -> None:
    (tmp_path / "m.rules").write_bytes(  # with a byte order mark, which the reader drops
        b'\xef\xbb\xbfmodule m "M"\ndefine old: patient.age > 60 years\n')
    text = ('guideline g "G"\n  record spine.Patient\nsource S:\n  title "T"\n'
            '  url "https://example.org"\nimport "m.rules"\nrule r:\n  when old\n'
            '  recommend x cite S\n')
    limits = spinerules.Limits(max_steps=5000, max_list_length=3)
    g = spinerules.loads(text, name=str(tmp_path / "g.rules"), root=tmp_path, limits=limits)
    data = pickle.dumps(g)
    for f in tmp_path.iterdir():  # nothing is read from disk when unpickling
        f.unlink()
    api._REBUILT.clear()
    again = pickle.loads(data)
    assert again.limits == limits and again.sha256 == g.sha256
    assert again.codes({"age": 70}, as_of=AS_OF) == {"x"}
    with pytest.raises(RecordError):
        again.codes({"fractures": [{}] * 4}, as_of=AS_OF)


def test_a_tampered_pickle_is_refused() -> None:
    g = spinerules.load("vcf")
    rebuild, args = g.__reduce__()
    entry, root, sources, *rest = args
    name, path, raw, digest = sources[0]
    forged = ((name, path, raw + b"\n# changed\n", digest), *sources[1:])
    api._REBUILT.clear()
    with pytest.raises(ValueError, match="does not match its SHA-256"):
        rebuild(entry, root, forged, *rest)


@pytest.fixture(scope="module")
def pool() -> Any:
    """Two worker processes started fresh (spawn): nothing is inherited from this one."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as p:
        yield p


def test_one_guideline_shipped_to_a_process_pool_gives_the_sequential_results(
        pool: concurrent.futures.ProcessPoolExecutor) -> None:
    g = spinerules.load("vcf")
    cases = patients()
    assert len(cases) >= 50
    sequential = [evaluate(g, p) for p in cases]
    assert len({tuple(codes) for _, codes in sequential}) > 5  # the patients differ
    parallel = list(pool.map(evaluate_shipped, [(g, p) for p in cases], timeout=300))
    assert parallel == sequential


@pytest.mark.parametrize("kind", ERRORS)
def test_an_error_raised_in_a_worker_reaches_the_parent_intact(
        pool: concurrent.futures.ProcessPoolExecutor, kind: str) -> None:
    expected = caught(kind)
    with pytest.raises(type(expected)) as info:
        pool.submit(raise_error, kind).result(timeout=300)
    assert str(info.value) == str(expected)
    assert details(info.value) == details(expected)
    # the pool survived: no BrokenProcessPool
    assert pool.submit(str, 1).result(timeout=300) == "1"

"""Hardening: thread safety, import confinement, every resource limit, content hashes, and
regression tests for engine issues found by the fuzzers (strict xfail until fixed; each is
described in /tmp/engine-issues.md and docs/security.md)."""

from __future__ import annotations

import concurrent.futures
import datetime
import enum
import hashlib
import json
import os
import random
import sys
import threading
import tracemalloc
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from conftest import AS_OF, load_text

import spinerules
from spinerules import Limits, api
from spinerules.cli import main
from spinerules.lang.resources import guidelines_dir
from spinerules.records import RecordError, load_record, load_record_json
from spinerules.records.schema import fact
from spinerules.records.spine import Patient

ROOT = Path(__file__).resolve().parents[2]

HEADER = """guideline g "G"
  record spine.Patient
source S:
  title "A source"
  url "https://example.org/s"
"""
RULE = "rule r:\n  when true\n  recommend x cite S\n"


def error_codes(path: Path | str, **kwargs: Any) -> set[str]:
    return {d.code for d in api.check(str(path), **kwargs) if d.is_error}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- thread safety -------------------------------------------------------------------------


def _shared_guideline() -> spinerules.Guideline:
    """The bundled vcf guideline if it loads, else a small one on the conftest schema."""
    try:
        return spinerules.load("vcf")
    except spinerules.GuidelineError:
        return _fallback_guideline()


def _fallback_guideline() -> spinerules.Guideline:
    return load_text("""
define acute: any(i in patient.items: i.edema and i.weeks < 6 weeks)
rule r1:
  when acute and patient.age >= 50 years
  recommend treat "Treat." cite S
rule r2:
  when unknown patient.flag
  request ask_flag "Ask." cite S
for item in patient.items:
  score grade from item.loss:
    < 20 % -> 0
    <= 40 % -> 1 classify moderate
    else -> 2 classify severe
    cite T
""")


def _random_value(rng: random.Random, annotation: Any, metadata: dict[str, Any],
                  depth: int, optional: bool = True) -> Any:
    """A JSON value for one field: unknown about one time in four."""
    if optional and rng.random() < 0.25:
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        (elem, *_rest) = typing.get_args(annotation)
        return [_random_value(rng, elem, {}, depth + 1, optional=False)
                for _ in range(rng.randint(0, 3))]
    if annotation is bool:
        return rng.random() < 0.5
    if annotation in (int, float):
        low = metadata.get("min", -20)
        high = metadata.get("max", max(low + 60, 60))
        value = rng.uniform(low, high)
        return round(value) if annotation is int else round(value, 1)
    if annotation is str:
        return rng.choice(["a", "b", "uncorrectable_coagulopathy", "p"])
    if annotation is datetime.date:
        return (datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 3000))
                ).isoformat()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return rng.choice(list(annotation)).value
    if isinstance(annotation, type) and attrs.has(annotation):
        hints = typing.get_type_hints(annotation)
        out = {}
        for f in attrs.fields(annotation):
            value = _random_value(rng, hints[f.name], dict(f.metadata), depth + 1)
            if value is not None:
                out[f.name] = value
        return out
    raise TypeError(annotation)


def generated_patients(record_type: type, count: int, seed: int = 20260218) -> Iterator[Any]:
    """``count`` reproducible random records of ``record_type`` (attrs instances)."""
    rng = random.Random(seed)
    for i in range(count):
        data = _random_value(rng, record_type, {}, 0, optional=False)
        if "id" in {f.name for f in attrs.fields(record_type)}:
            data["id"] = f"p{i}"
        yield load_record(record_type, data)


def test_one_guideline_evaluated_from_eight_threads_matches_a_sequential_run() -> None:
    """10,000 generated patients through one shared Guideline: 8 threads, same results.

    Compares ``Result.dumps()`` (the whole canonical result JSON) and ``Guideline.codes``
    (the generated fast path) for every patient with a sequential run. The interpreter is
    asked to switch threads very often while the threads run, to provoke interleavings.
    """
    g = _shared_guideline()
    patients = list(generated_patients(g.record_type, 10_000))

    def one(patient: Any) -> tuple[str, frozenset[str]]:
        try:
            dumped = g.evaluate(patient, as_of=AS_OF).dumps()
        except spinerules.EvaluationFailedError as exc:
            dumped = f"failed: {exc}"
        try:
            fast = g.codes(patient, as_of=AS_OF)
        except spinerules.EvaluationFailedError as exc:
            fast = frozenset({f"failed: {exc}"})
        return dumped, fast

    sequential = [one(p) for p in patients]
    assert len({d for d, _ in sequential}) > 100  # the patients really differ

    start = threading.Barrier(8)
    seen_threads: set[int] = set()

    def warm_up() -> None:
        seen_threads.add(threading.get_ident())
        start.wait(timeout=30)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(warm_up) for _ in range(8)]:
                f.result()
            threaded = list(pool.map(one, patients))
    finally:
        sys.setswitchinterval(interval)

    assert len(seen_threads) == 8
    assert len(threaded) == len(sequential)
    mismatches = [i for i, (a, b) in enumerate(zip(sequential, threaded, strict=True)) if a != b]
    assert not mismatches, f"{len(mismatches)} differ, first patient {mismatches[0]}"
    # Each result agrees with its own fast path too.
    for dumped, fast in sequential[:2000]:
        if not dumped.startswith("failed"):
            codes = {r["code"] for r in json.loads(dumped)["recommendations"]}
            assert codes == set(fast)


def test_guidelines_can_be_loaded_from_many_threads_at_once() -> None:
    """The parser is built once per process and shared; concurrent loads agree."""
    text = HEADER + RULE + "define d: patient.age > 50 years\nrule r2:\n  when d\n" \
        "  recommend y cite S\n"

    def one(_: int) -> tuple[str, frozenset[str]]:
        g = spinerules.loads(text, name="/nonexistent/t.rules", root="/nonexistent")
        return g.sha256, g.codes({"age": 70}, as_of=AS_OF)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(one, range(32)))
    assert len(results) == 1
    assert next(iter(results))[1] == {"x", "y"}


# --- imports stay inside the guideline folder ----------------------------------------------


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """``root/g`` (the guideline folder) and ``root/outside`` (a folder next to it)."""
    inside, outside = tmp_path / "g", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    write(outside, "o.rules", 'module o "Outside"\ndefine leaked: true\n')
    return inside, outside


@pytest.mark.parametrize("target", [
    "../outside/o.rules",  # `..` out of the folder
    "sub/../../outside/o.rules",  # `..` hidden after a sub-folder
    "/etc/passwd",  # absolute
    "/dev/zero",  # absolute, and would never end if read
    "//server/share/x.rules",
    "\\\\server\\share\\x.rules",
    "C:\\Windows\\x.rules",  # a drive letter
    "",  # empty
])
def test_imports_that_leave_the_folder_are_refused(folders: tuple[Path, Path],
                                                   target: str) -> None:
    inside, _ = folders
    (inside / "sub").mkdir()
    entry = write(inside, "g.rules", HEADER + RULE + f'import "{target}"\n')
    assert error_codes(entry) == {"SR209"}


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinks_that_lead_out_are_refused(folders: tuple[Path, Path]) -> None:
    inside, outside = folders
    (inside / "file_link.rules").symlink_to(outside / "o.rules")
    (inside / "dir_link").symlink_to(outside, target_is_directory=True)
    (inside / "dev_link.rules").symlink_to("/dev/zero")
    for target in ("file_link.rules", "dir_link/o.rules", "dev_link.rules"):
        entry = write(inside, "g.rules", HEADER + RULE + f'import "{target}"\n')
        diags = [d for d in api.check(str(entry)) if d.is_error]
        assert [d.code for d in diags] == ["SR209"], target
        assert "leaked" not in json.dumps([d.to_json() for d in diags])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_an_import_that_is_not_a_regular_file_is_not_opened(folders: tuple[Path, Path]) -> None:
    inside, _ = folders
    os.mkfifo(inside / "pipe.rules")  # opening it for reading would block forever
    (inside / "folder.rules").mkdir()
    for target in ("pipe.rules", "folder.rules"):
        entry = write(inside, "g.rules", HEADER + RULE + f'import "{target}"\n')
        assert error_codes(entry) == {"SR210"}, target


def test_imports_within_the_folder_are_allowed(folders: tuple[Path, Path]) -> None:
    inside, _ = folders
    write(inside, "sub/m.rules", 'module m "M"\nimport "../n.rules"\ndefine d: true\n')
    write(inside, "n.rules", 'module n "N"\ndefine e: false\n')
    entry = write(inside, "g.rules", HEADER + 'import "sub/m.rules"\nrule r:\n  when d or e\n'
                  "  recommend x cite S\n")
    assert error_codes(entry) == set()


def test_the_root_can_be_widened_explicitly(folders: tuple[Path, Path]) -> None:
    inside, _outside = folders
    entry = write(inside, "g.rules", HEADER + 'import "../outside/o.rules"\nrule r:\n'
                  "  when leaked\n  recommend x cite S\n")
    assert error_codes(entry) == {"SR209"}
    assert error_codes(entry, root=inside.parent) == set()


def test_loads_confines_imports_to_its_root(folders: tuple[Path, Path]) -> None:
    inside, _ = folders
    with pytest.raises(spinerules.GuidelineError) as info:
        spinerules.loads(HEADER + RULE + 'import "../outside/o.rules"\n', root=inside,
                         name=str(inside / "t.rules"))
    assert {d.code for d in info.value.diagnostics} == {"SR209"}


def test_bundled_guidelines_may_import_each_other_but_not_leave() -> None:
    entry = guidelines_dir() / "vcf" / "vcf.rules"
    text = entry.read_text(encoding="utf-8") + '\nimport "../../README.md"\n'
    codes = {d.code for d in api.check(str(entry), text=text) if d.is_error}
    assert codes == {"SR209"}


# --- every limit gives its code ------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A guideline with one import, two rules, one define and nested brackets."""
    write(tmp_path, "m.rules", 'module m "M"\ndefine d: ((true))\n')
    return write(tmp_path, "g.rules", HEADER + 'import "m.rules"\n' + RULE
                 + "rule r2:\n  when d and any(f in patient.fractures: any(h in patient.fractures:"
                 " f.level != h.level))\n  recommend y cite S\n")


def test_the_small_guideline_is_fine_with_default_limits(small: Path) -> None:
    assert error_codes(small) == set()


def test_limit_max_bytes(small: Path) -> None:
    assert error_codes(small, limits=Limits(max_bytes=64)) == {"SR107"}
    with pytest.raises(spinerules.GuidelineError) as info:
        spinerules.loads(small.read_text(), root=small.parent, limits=Limits(max_bytes=64))
    assert {d.code for d in info.value.diagnostics} == {"SR107"}


def test_limit_max_bytes_applies_to_imported_files(small: Path) -> None:
    size = len(small.read_bytes())
    assert error_codes(small, limits=Limits(max_bytes=size)) == set()
    write(small.parent, "m.rules", 'module m "M"\ndefine d: true\n' + "#" * size)
    assert error_codes(small, limits=Limits(max_bytes=size)) == {"SR107"}


def test_limit_max_depth(small: Path) -> None:
    assert error_codes(small, limits=Limits(max_depth=1)) == {"SR106"}
    assert error_codes(small, limits=Limits(max_depth=2)) == set()


def test_limit_max_rules(small: Path) -> None:
    assert error_codes(small, limits=Limits(max_rules=2)) == {"SR111"}
    assert error_codes(small, limits=Limits(max_rules=3)) == set()


def test_limit_max_files(small: Path) -> None:
    assert error_codes(small, limits=Limits(max_files=1)) == {"SR111"}
    assert error_codes(small, limits=Limits(max_files=2)) == set()


def test_limit_max_files_message_names_files(small: Path) -> None:
    [d] = [d for d in api.check(str(small), limits=Limits(max_files=1)) if d.is_error]
    assert "file" in d.message


def test_limit_max_steps(small: Path) -> None:
    g = spinerules.load(small, limits=Limits(max_steps=100))
    crowd = {"fractures": [{"level": "L1"}] * 20}  # 400 pairs to compare
    for run in (lambda: g.evaluate(crowd, as_of=AS_OF), lambda: g.codes(crowd, as_of=AS_OF)):
        with pytest.raises(spinerules.EvaluationFailedError) as info:
            run()
        assert info.value.diagnostic.code == "SR502"
    assert spinerules.load(small).codes(crowd, as_of=AS_OF) == {"x"}


def test_limit_max_steps_in_the_cli(tmp_path: Path, small: Path) -> None:
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps({"fractures": [{"level": "L1"}] * 1000}))
    result = CliRunner().invoke(main, ["eval", str(small), str(patient), "--as-of", "2026-02-18"])
    assert result.exit_code == 4, result.output  # 10**6 pairs exceed the default budget
    assert "SR502" in result.output


def test_limit_max_list_length_in_the_loader() -> None:
    many = {"fractures": [{}] * 1001}
    with pytest.raises(RecordError) as info:
        load_record(Patient, many)
    assert [str(p) for p in info.value.problems] == [
        "fractures: expected at most 1000 items, got 1001"]
    assert len(load_record(Patient, {"fractures": [{}] * 1000}).fractures or ()) == 1000
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, json.dumps({"fractures": [{}] * 5000}))
    assert [str(p) for p in info.value.problems] == [
        "fractures: expected at most 1000 items, got 5000"]
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, '{"fractures": [{}, {}, {}]}', max_list_length=2)
    assert [str(p) for p in info.value.problems] == ["fractures: expected at most 2 items, got 3"]
    assert load_record(Patient, {"fractures": [{}] * 5}, max_list_length=5).fractures


@attrs.frozen(kw_only=True)
class Visit:
    codes: tuple[str, ...] | None = fact()


@attrs.frozen(kw_only=True)
class Chart:
    visits: list[Visit] | None = fact()


def test_limit_max_list_length_on_nested_lists() -> None:
    data = {"visits": [{"codes": ["a"]}, {"codes": ["a", "b", "c"]}]}
    with pytest.raises(RecordError) as info:
        load_record(Chart, data, max_list_length=2)
    assert [str(p) for p in info.value.problems] == [
        "visits[1].codes: expected at most 2 items, got 3"]


def test_limit_max_list_length_through_the_guideline(small: Path) -> None:
    g = spinerules.load(small, limits=Limits(max_list_length=2))
    with pytest.raises(RecordError) as info:
        g.evaluate({"fractures": [{}, {}, {}]}, as_of=AS_OF)
    assert [p.path for p in info.value.problems] == ["fractures"]
    with pytest.raises(RecordError):
        g.codes({"fractures": [{}, {}, {}]}, as_of=AS_OF)


def test_limits_are_per_load_and_thread_safe() -> None:
    """The loader's list limit is a per-call setting: concurrent loads do not see each other's."""
    def one(limit: int) -> int:
        for _ in range(50):
            try:
                load_record(Patient, {"fractures": [{}] * 3}, max_list_length=limit)
            except RecordError:
                if limit >= 3:
                    raise
            else:
                if limit < 3:
                    raise AssertionError("limit not applied")
        return limit

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(one, [2, 3] * 8)) == [2] * 8 + [3] * 8


def test_patient_json_size_and_nesting_limits() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, '{"id": "' + "x" * 100 + '"}', max_bytes=50)
    assert [p.path for p in info.value.problems] == ["$"]
    assert "too large" in info.value.problems[0].message
    for deep in ("[" * 100_000, '{"a": ' * 100_000):
        with pytest.raises(RecordError) as info:
            load_record_json(Patient, deep)
        assert [str(p) for p in info.value.problems] == [
            "$: not valid JSON: arrays and objects are nested too deeply"]


def test_patient_json_with_a_byte_order_mark_loads_as_text_and_bytes() -> None:
    text = '\ufeff{"age": 70}'
    assert load_record_json(Patient, text).age == 70
    assert load_record_json(Patient, text.encode("utf-8")).age == 70


def test_unprintable_text_in_a_record_never_reaches_the_output() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, '{"id": "\\ud800", "sex": "\\udfff", "\\ud83d": 1}')
    for problem in info.value.problems:
        str(problem).encode("utf-8")  # printable
    assert {p.path for p in info.value.problems} == {"id", "sex", "\\ud83d"}


# --- results carry the hash of every file --------------------------------------------------


def test_result_names_every_bundled_file_with_its_sha256() -> None:
    try:
        g = spinerules.load("vcf")
    except spinerules.GuidelineError:
        pytest.skip("the bundled vcf guideline does not load right now")
    result = g.evaluate({"age": 70}, as_of=AS_OF)
    files = result.guideline["files"]
    on_disk = {Path(g.program.paths[name]).resolve() for name in files}
    declaration = guidelines_dir() / "spine" / "record.rules"  # the record it imports (#12)
    assert on_disk == {p.resolve() for p in (guidelines_dir() / "vcf").glob("*.rules")} | {
        declaration.resolve()}
    for name, digest in files.items():
        assert digest == hashlib.sha256(Path(g.program.paths[name]).read_bytes()).hexdigest()
    assert result.guideline["sha256"] == g.sha256
    assert json.loads(result.dumps())["guideline"]["files"] == files


def test_result_hashes_follow_the_files(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", 'module a "A"\nimport "b/b.rules"\ndefine da: true\n')
    write(tmp_path, "b/b.rules", 'module b "B"\ndefine db: true\n')
    write(tmp_path, "unused.rules", 'module u "Unused"\n')
    entry = write(tmp_path, "g.rules", HEADER + 'import "a.rules"\nrule r:\n  when da and db\n'
                  "  recommend x cite S\n")
    g = spinerules.load(entry)
    files = g.evaluate({}, as_of=AS_OF).guideline["files"]
    assert len(files) == 3  # the entry, a.rules and b/b.rules; not unused.rules
    for name, digest in files.items():
        assert digest == hashlib.sha256(Path(g.program.paths[name]).read_bytes()).hexdigest()

    write(tmp_path, "b/b.rules", 'module b "B"\ndefine db: true  # changed\n')
    g2 = spinerules.load(entry)
    files2 = g2.evaluate({}, as_of=AS_OF).guideline["files"]
    changed = {name for name in files if files[name] != files2[name]}
    assert [Path(name).name for name in changed] == ["b.rules"]
    assert g2.sha256 != g.sha256


def test_loads_hashes_the_text_it_was_given() -> None:
    text = HEADER + RULE
    g = spinerules.loads(text, name="/nonexistent/t.rules", root="/nonexistent")
    assert list(g.info()["files"].values()) == [hashlib.sha256(text.encode()).hexdigest()]


# --- long operator chains ------------------------------------------------------------------


def _chain(op: str, n: int) -> str:
    if op in ("and", "or"):
        return f" {op} ".join(["patient.neuro.deficit"] * n)
    return f" {op} ".join(["patient.prior_vertebral_fractures"] * n) + " > 3"


def _load_or_errors(text: str) -> set[str]:
    try:
        g = spinerules.loads(text, name="/nonexistent/c.rules", root="/nonexistent")
    except spinerules.GuidelineError as exc:
        return {d.code for d in exc.diagnostics}
    patient = {"prior_vertebral_fractures": 1, "neuro": {"deficit": True}}
    g.evaluate(patient, as_of=AS_OF, trace=True).dumps()
    g.codes(patient, as_of=AS_OF)
    return set()


@pytest.mark.parametrize(("op", "n"), [("+", 100), ("+", 1000), ("*", 5000), ("and", 500),
                                       ("or", 900)])
def test_long_operator_chains_load_or_are_refused(op: str, n: int) -> None:
    assert _load_or_errors(HEADER + f"rule r:\n  when {_chain(op, n)}\n  recommend x cite S\n") \
        in (set(), {"SR106"})


@pytest.mark.parametrize(("op", "n"), [("+", 250), ("and", 1500)])
def test_long_operator_chains_that_check_clean_also_load(op: str, n: int) -> None:
    text = HEADER + f"rule r:\n  when {_chain(op, n)}\n  recommend x cite S\n"
    assert not [d for d in api.check("/nonexistent/c.rules", root="/nonexistent", text=text)
                if d.is_error]
    assert _load_or_errors(text) == set()


# --- regression tests for engine issues the fuzzers found ----------------------------------


def _evaluates_cleanly(g: spinerules.Guideline, patient: Any) -> None:
    """Evaluation either succeeds (with strict JSON) or fails with an SR5xx diagnostic."""
    for run in (lambda: g.evaluate(patient, as_of=AS_OF, trace=True),
                lambda: g.codes(patient, as_of=AS_OF)):
        try:
            out = run()
        except spinerules.EvaluationFailedError as exc:
            assert exc.diagnostic.code.startswith("SR5")
            continue
        if isinstance(out, spinerules.Result):
            json.loads(out.dumps(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
            if out.trace is not None:
                out.trace.render()
            for code in out.codes():
                out.explain(code)


def _nested(depth: int, call: Any) -> Any:
    return call() if depth == 0 else _nested(depth - 1, call)


def test_deep_nesting_never_escapes_as_a_lark_error() -> None:
    """A fuzzer input (a long chain of minus signs) checked from many stack depths."""
    path = ROOT / "tests" / "fuzz" / "regressions" / "deep_minus_visit_error.rules"
    found: list[object] = []

    def scan(depth: int) -> None:  # in a fresh thread, whose stack starts nearly empty
        try:
            diags = _nested(depth, lambda: api.check(str(path)))
            found.append(frozenset(d.code for d in diags if d.is_error))
        except Exception as exc:
            found.append(type(exc).__name__)

    for depth in range(0, 60):
        thread = threading.Thread(target=scan, args=(depth,))
        thread.start()
        thread.join()
    assert set(found) <= {frozenset({"SR106"}), frozenset({"SR201"})}, set(found)


def test_non_finite_quantity_in_reasons() -> None:
    g = spinerules.loads(HEADER + "for f in patient.fractures:\n  rule r:\n"
                         "    when f.weeks_since_onset > 6 weeks\n    recommend x cite S\n",
                         name="/nonexistent/q.rules", root="/nonexistent")
    patient = load_record(Patient, {"fractures": [{"weeks_since_onset": 1.2e308}]})
    _evaluates_cleanly(g, patient)


@pytest.mark.parametrize("expr", ["today + 100000 years > 2026-01-01",
                                  "today - 3000 years < 2026-01-01",
                                  "today + 1000000000000 days > 2026-01-01"])
def test_date_arithmetic_out_of_range(expr: str) -> None:
    g = spinerules.loads(HEADER + f"rule r:\n  when {expr}\n  recommend x cite S\n",
                         name="/nonexistent/d.rules", root="/nonexistent")
    _evaluates_cleanly(g, {})


def test_result_json_is_strict() -> None:
    huge = "9" * 320
    try:
        g = spinerules.loads(HEADER + f"for f in patient.fractures:\n  score grade from {huge}:\n"
                             "    < 1 -> 0 classify small\n    else -> 9 classify large\n"
                             "    cite S\n", name="/nonexistent/j.rules", root="/nonexistent")
    except spinerules.GuidelineError:
        return  # refusing the literal is a fix too
    _evaluates_cleanly(g, {"fractures": [{"level": "L1"}]})


@pytest.mark.parametrize("body", [
    "rule r:\n  when patient.prior_vertebral_fractures > " + "9" * 320 + "\n  recommend x cite S\n",
    "score s from patient.prior_vertebral_fractures:\n  < 1 -> " + "9" * 320
    + "\n  else -> 0\n  cite S\n",
    "rule r:\n  when patient.age > 1" + "0" * 306 + " years\n  recommend x cite S\n",  # in days
])
def test_number_literals_too_large_for_a_float_are_refused(body: str) -> None:
    diags = api.check("/nonexistent/n.rules", root="/nonexistent", text=HEADER + body)
    assert [d.code for d in diags if d.is_error] == ["SR112"]


def test_result_dumps_writes_strict_json_even_for_non_finite_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    g = spinerules.loads(HEADER + RULE, name="/nonexistent/r.rules", root="/nonexistent")
    result = g.evaluate({}, as_of=AS_OF)
    monkeypatch.setattr(spinerules.Result, "to_json", lambda self: {
        "a": float("inf"), "b": [float("-inf"), float("nan")], "c": {"d": 1.5}})
    out = json.loads(result.dumps(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert out == {"a": "Infinity", "b": ["-Infinity", "NaN"], "c": {"d": 1.5}}


@pytest.mark.parametrize("body", [
    "score s from s:\n  else -> 1\n  cite S\n",
    "score s from t:\n  else -> 1\n  cite S\nscore t from s:\n  else -> 1\n  cite S\n",
])
def test_score_cycle_is_a_check_error(tmp_path: Path, body: str) -> None:
    entry = write(tmp_path, "s.rules", HEADER + body)
    assert "SR205" in error_codes(entry)


def test_score_gap_message_uses_the_inputs_unit(tmp_path: Path) -> None:
    entry = write(tmp_path, "s.rules", HEADER + "score s from patient.age:\n  < 50 years -> 1\n"
                  "  > 60 years -> 2\n  cite S\n")
    [d] = [d for d in api.check(str(entry)) if d.is_error]
    assert "18262" not in d.message


def test_an_oversized_guideline_file_is_not_read_whole(tmp_path: Path) -> None:
    entry = tmp_path / "big.rules"
    with entry.open("wb") as fh:
        fh.write(HEADER.encode())
        fh.write(b"#" * (32 * 1024 * 1024))
    tracemalloc.start()
    try:
        codes = error_codes(entry, limits=Limits(max_bytes=1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert codes == {"SR107"}
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes to refuse a 32 MiB file"


def test_an_oversized_patient_file_is_not_read_whole(tmp_path: Path) -> None:
    patient = tmp_path / "big.json"
    with patient.open("wb") as fh:
        fh.write(b'{"id": "')
        fh.write(b"x" * (32 * 1024 * 1024))
        fh.write(b'"}')
    entry = write(tmp_path, "g.rules", HEADER + RULE)
    tracemalloc.start()
    try:
        result = CliRunner().invoke(main, ["eval", str(entry), str(patient)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 3
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes to refuse a 32 MiB record"


def test_the_fallback_guideline_of_the_thread_test_works() -> None:
    """Used by the thread test when vcf does not load; it must load and vary by patient."""
    g = _fallback_guideline()
    patients = list(generated_patients(g.record_type, 200))
    assert all(isinstance(p, g.record_type) for p in patients)
    assert len({frozenset(g.codes(p, as_of=AS_OF)) for p in patients}) > 2

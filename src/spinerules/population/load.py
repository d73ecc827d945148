"""Patients into DuckDB in the nested layout (``layout.py``), with every bad value counted.

Sources: Parquet (a file or a folder of files) and NDJSON records (one JSON patient per
line) in the nested layout; CSV in the flat layout (``patients.csv`` with dotted column
names for nested records, ``neuro.deficit``, and one CSV per list of records,
``fractures.csv``, with a ``patient`` column holding the patient's ``id``); a FHIR Bulk
Data export folder (``Patient.ndjson``, ``Condition.ndjson``...) read by the FHIR wing's
mapping.

Every column is read loosely (as JSON or text where the format allows) and then cast to
its type with ``TRY_CAST``: a value that does not convert (wrong type), an enumeration
value that is not a member, a number outside the field's range (a negative age) makes its
row invalid. Invalid rows are left out of the run and counted in the load report by table,
column and problem; a missing table or column is reported and read as unknown. Nothing is
dropped without being counted: ``LoadReport.rows_read == rows_valid + rows_invalid``.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import attrs

from spinerules.population import layout as lay


@attrs.frozen
class Problem:
    table: str
    column: str
    problem: str
    rows: int

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.problem} ({self.rows} row(s))"

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "problem": self.problem,
                "rows": self.rows}


@attrs.define
class LoadReport:
    source: str = ""
    kind: str = ""
    rows_read: int = 0
    rows_valid: int = 0
    problems: list[Problem] = attrs.field(factory=list)

    @property
    def rows_invalid(self) -> int:
        return self.rows_read - self.rows_valid

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "rows_read": self.rows_read,
                "rows_valid": self.rows_valid, "rows_invalid": self.rows_invalid,
                "problems": [p.to_json() for p in self.problems]}


class LoadError(Exception):
    """The data cannot be read at all (no such file, not a known format)."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def detect(path: Path) -> str:
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if "Patient.ndjson" in names:
            return "fhir"
        if "patients.csv" in names:
            return "csv"
        if any(p.endswith(".parquet") for p in names):
            return "parquet"
        if any(p.endswith((".ndjson", ".jsonl")) for p in names):
            return "ndjson"
        raise LoadError(f"{path}: no patients.csv, Parquet, NDJSON or FHIR Patient.ndjson "
                        "file in this folder")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    if suffix == ".csv":
        return "csv"
    raise LoadError(f"{path}: not a .parquet, .ndjson, .jsonl or .csv file, nor a folder")


def load(con: Any, path: str | Path, record: type, *, as_of: datetime.date | None = None,
         view: str = "patients") -> LoadReport:
    """Make ``view`` in DuckDB connection ``con``: the valid patients of ``path``."""
    p = Path(path)
    if not p.exists():
        raise LoadError(f"{p}: no such file or folder")
    kind = detect(p)
    report = LoadReport(source=str(p), kind=kind)
    cols = {name: (a, is_list) for name, a, is_list, _ in lay.fields_of(record)}
    if kind == "parquet":
        files = sorted(str(x) for x in p.glob("*.parquet")) if p.is_dir() else [str(p)]
        con.read_parquet(files).create_view("__raw", replace=True)
        _typed(con, "__raw", record, cols, report, view, table="patients", loose=False)
    elif kind == "ndjson":
        files = sorted(str(x) for x in p.glob("*.nd*json*")) if p.is_dir() else [str(p)]
        con.read_json(files, format="newline_delimited",
                      columns={name: "JSON" for name in cols}).create_view("__raw", replace=True)
        _typed(con, "__raw", record, cols, report, view, table="patients", loose=True)
    elif kind == "csv":
        _csv(con, p, record, cols, report, view)
    else:
        _fhir(con, p, record, report, view, as_of or datetime.date.today())
    return report


def _typed(con: Any, raw: str, record: type, cols: dict[str, tuple[Any, bool]],
           report: LoadReport, view: str, table: str, loose: bool) -> None:
    """``view``: ``raw``'s valid rows with every column cast to its type; counts the rest."""
    have = {r[0]: str(r[1]) for r in con.sql(f"DESCRIBE {_q(raw)}").fetchall()}
    meta = {name: md for name, _, _, md in lay.fields_of(record)}
    select: list[str] = []
    bad: list[tuple[str, str, str]] = []  # (column, problem, SQL that is true for a bad row)
    for name, (a, is_list) in cols.items():
        want = lay.sql_type(a, is_list)
        if name not in have:
            report.problems.append(Problem(table, name, "missing column (read as unknown)",
                                           0))
            select.append(f"CAST(NULL AS {want}) AS {_q(name)}")
            continue
        src = _q(name)
        if loose and want in ("VARCHAR",):
            cast = f"json_extract_string({src}, '$')"
            if "JSON" in have[name]:
                bad.append((name, f"not a {_word(a, is_list)}",
                            f"{src} IS NOT NULL AND json_type({src}) NOT IN ('VARCHAR', 'NULL')"))
        elif have[name] == want:
            cast = src
        else:
            cast = f"TRY_CAST({src} AS {want})"
            null_json = f" AND json_type({src}) <> 'NULL'" if "JSON" in have[name] else ""
            bad.append((name, f"not a {_word(a, is_list)} (found {have[name]})"
                        if not loose else f"not a {_word(a, is_list)}",
                        f"{src} IS NOT NULL{null_json} AND {cast} IS NULL"))
        select.append(f"{cast} AS {_q(name)}")
        if loose and "JSON" in have[name] and (attrs.has(a) or is_list):
            bad.extend((name + col, problem, check) for col, problem, check in
                       _leaf_casts(src, cast, a, is_list))
        bad.extend((name + col, problem, check) for col, problem, check in
                   _value_checks(cast, a, is_list))
        if not is_list and not attrs.has(a):
            bad.extend((name, problem, check) for problem, check in _range(cast, meta[name]))
    ids = [f"count_if({check})" for _, _, check in bad]
    any_bad = " OR ".join(f"coalesce({check}, false)" for _, _, check in bad) or "false"
    counts = con.execute(f"SELECT count(*), count_if({any_bad}) {''.join(', ' + i for i in ids)} "
                     f"FROM {_q(raw)}").fetchall()[0]
    report.rows_read = int(counts[0])
    report.rows_valid = report.rows_read - int(counts[1])
    for (column, problem, _), k in zip(bad, counts[2:], strict=True):
        if k:
            report.problems.append(Problem(table, column, problem, int(k)))
    con.sql(f"CREATE OR REPLACE VIEW {_q(view)} AS SELECT (row_number() OVER ()) - 1 AS "
            f"__row, {', '.join(select)} FROM {_q(raw)} WHERE NOT ({any_bad})")


def _leaf_casts(raw: str, typed: str, a: Any, is_list: bool, json_path: str = "$",
                sql_path: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """Checks that no value inside a nested JSON column was lost in the cast: per leaf, the
    values set in the JSON and in the typed column are as many."""
    out: list[tuple[str, str, str]] = []
    if is_list and attrs.has(a):
        for name, inner, lst, _ in lay.fields_of(a):
            if lst or attrs.has(inner):
                continue  # (records inside list elements: checked as a whole by the cast)
            raw_n = (f"len(list_filter(json_extract({raw}, '{json_path}[*].{name}'), "
                     "lambda v: json_type(v) <> 'NULL'))")
            typed_n = f"len(list_filter({typed}, lambda v: v.{_q(name)} IS NOT NULL))"
            out.append((f"[].{name}", f"not a {_word(inner, False)}",
                        f"{raw_n} <> coalesce({typed_n}, 0)"))
        return out
    if attrs.has(a):
        for name, inner, lst, _ in lay.fields_of(a):
            jp = f"{json_path}.{name}"
            sp = (*sql_path, name)
            if attrs.has(inner) and not lst:
                out.extend((f".{name}{c}", p, chk) for c, p, chk in
                           _leaf_casts(raw, typed, inner, False, jp, sp))
            elif not lst:
                typed_leaf = f"({typed})" + "".join(f".{_q(x)}" for x in sp)
                out.append((f".{name}", f"not a {_word(inner, False)}",
                            f"coalesce(json_type(json_extract({raw}, '{jp}')), 'NULL') "
                            f"<> 'NULL' AND {typed_leaf} IS NULL"))
    return out


def _word(a: Any, is_list: bool) -> str:
    if attrs.has(a):
        word = f"{a.__name__} record"
    else:
        kind, _ = lay._kind(a)
        word = {"bool": "boolean", "int": "whole number", "float": "number", "str": "string",
                "date": "date", "enum": f"{a.__name__} value"}[kind]
    return f"list of {word}s" if is_list else word


def _value_checks(expr: str, a: Any, is_list: bool, depth: int = 0
                  ) -> list[tuple[str, str, str]]:
    """(column suffix, problem, SQL true for a bad row) for enumerations and ranges."""
    out: list[tuple[str, str, str]] = []
    if is_list:
        var = f"__x{depth}"
        for col, problem, check in _value_checks(var, a, False, depth + 1):
            out.append(("[]" + col, problem,
                        f"len(list_filter({expr}, lambda {var}: coalesce({check}, false))) > 0"))
        return out
    if attrs.has(a):
        for name, inner, lst, md in lay.fields_of(a):
            sub = f"({expr}).{_q(name)}"
            out.extend((f".{name}{c}", p, chk) for c, p, chk in _value_checks(sub, inner, lst,
                                                                                depth))
            if not lst and not attrs.has(inner):
                out.extend((f".{name}", p, chk) for p, chk in _range(sub, md))
        return out
    kind, members = lay._kind(a)
    if kind == "enum":
        out.append(("", f"not one of {', '.join(members)}",
                    f"{expr} IS NOT NULL AND {expr} NOT IN ({', '.join(map(_lit, members))})"))
    return out


def _range(expr: str, md: Any) -> list[tuple[str, str]]:
    lo, hi = md.get("min"), md.get("max")
    out = []
    if lo is not None:
        out.append((f"below the minimum {lo:g}", f"{expr} < {float(lo)!r}"))
    if hi is not None:
        out.append((f"above the maximum {hi:g}", f"{expr} > {float(hi)!r}"))
    return out


def _csv(con: Any, p: Path, record: type, cols: dict[str, tuple[Any, bool]],
         report: LoadReport, view: str) -> None:
    """The flat layout nested: dotted columns to STRUCTs, list tables to LISTs."""
    folder = p if p.is_dir() else p.parent
    main = p / "patients.csv" if p.is_dir() else p
    con.read_csv(str(main), all_varchar=True, header=True).create_view("__flat",
                                                                       replace=True)
    have = {r[0] for r in con.sql("DESCRIBE __flat").fetchall()}
    parts: list[str] = []
    joins: list[str] = []
    for name, (a, is_list) in cols.items():
        if is_list and attrs.has(a):
            part = folder / f"{name}.csv"
            if not part.exists():
                report.problems.append(Problem(name, "*", f"missing table {part.name} "
                                               "(the list is read as unknown)", 0))
                parts.append(f"CAST(NULL AS VARCHAR) AS {_q(name)}")
                continue
            view_name = f"__list_{name}"
            con.read_csv(str(part), all_varchar=True, header=True).create_view(view_name,
                                                                               replace=True)
            sub = {r[0] for r in con.sql(f"DESCRIBE {_q(view_name)}").fetchall()}
            if "patient" not in sub:
                report.problems.append(Problem(name, "patient", "missing column (the table "
                                               "cannot be joined; the list is read as "
                                               "unknown)", 0))
                parts.append(f"CAST(NULL AS VARCHAR) AS {_q(name)}")
                continue
            element, _ = _pack(a, (), sub)
            con.sql(f"CREATE OR REPLACE VIEW {_q('__agg_' + name)} AS SELECT patient, "
                    f"to_json(list({element})) AS v FROM {_q(view_name)} GROUP BY patient")
            joins.append(f"LEFT JOIN {_q('__agg_' + name)} ON {_q('__agg_' + name)}.patient "
                         f"= __flat.{_q('id')}")
            parts.append(f"coalesce({_q('__agg_' + name)}.v, '[]') AS {_q(name)}")
        elif attrs.has(a):
            parts.append(f"{_pack(a, (name,), have)[0]} AS {_q(name)}")
        elif name in have:
            parts.append(f"to_json(__flat.{_q(name)}) AS {_q(name)}")
        else:
            report.problems.append(Problem("patients", name, "missing column (read as "
                                           "unknown)", 0))
            parts.append(f"NULL AS {_q(name)}")
    con.sql("CREATE OR REPLACE VIEW __nested AS SELECT " + ", ".join(
        f"CAST({x.rsplit(' AS ', 1)[0]} AS JSON) AS {x.rsplit(' AS ', 1)[1]}" for x in parts)
        + " FROM __flat " + " ".join(joins))
    _typed(con, "__nested", record, cols, report, view, table="patients", loose=True)


def _pack(cls: type, prefix: tuple[str, ...], have: set[str]) -> tuple[str, list[str]]:
    """A JSON object from dotted CSV columns (every value a JSON string, converted and
    checked by ``_typed``); NULL when none of its columns is set; and those columns."""
    pairs: list[str] = []
    cols: list[str] = []
    for name, a, is_list, _ in lay.fields_of(cls):
        path = (*prefix, name)
        dotted = ".".join(path)
        if attrs.has(a) and not is_list:
            inner, inner_cols = _pack(a, path, have)
            pairs.append(f"{_lit(name)}, {inner}")
            cols.extend(inner_cols)
            continue
        if dotted not in have:
            continue
        cols.append(_q(dotted))
        pairs.append(f"{_lit(name)}, nullif({_q(dotted)}, '')")
    if not cols:
        return "NULL", []
    empty = " AND ".join(f"nullif({c}, '') IS NULL" for c in cols)
    return f"CASE WHEN {empty} THEN NULL ELSE json_object({', '.join(pairs)}) END", cols


def _fhir(con: Any, p: Path, record: type, report: LoadReport, view: str,
          as_of: datetime.date) -> None:
    from spinerules.fhir.bulk import BulkReport, read_bulk

    bulk = BulkReport()
    records = []
    for r in read_bulk(p, as_of=as_of, report=bulk):
        if r.extraction is not None:
            records.append(r.extraction.record)
    table = lay.to_arrow(records, record)
    con.register("__fhir", table)
    con.sql(f"CREATE OR REPLACE VIEW {_q(view)} AS SELECT * FROM __fhir")
    report.rows_read = bulk.patients
    report.rows_valid = len(records)
    for why, k in sorted(bulk.skipped.items()):
        report.problems.append(Problem("Patient", "*", f"skipped: {why}", k))

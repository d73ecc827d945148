"""The care-gap report of a population run: counts and percentages per recommendation, per
missing request, per rule outcome and per score band; as text, JSON, or one
self-contained HTML page (inline SVG charts, no script, nothing fetched).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

from spinerules.population.load import LoadReport
from spinerules.population.sql import CompiledQuery


def _pct(k: int, total: int) -> float:
    return round(100.0 * k / total, 2) if total else 0.0


def build(results: Any, query: CompiledQuery, load: LoadReport, *, engine: str,
          guideline: str, as_of: str, seconds: float | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict, from the results table (Arrow)."""
    total = results.num_rows
    codes: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    bands: dict[str, Counter[str]] = {}
    band_codes = {s.name: [c for _, c in s.bands if c] for s in query.scores}
    for column, counter in (("codes", codes), ("missing", missing), ("fired", fired),
                            ("undetermined", unknown)):
        for values in results.column(column).to_pylist():
            counter.update(set(values or ()))
    code_lists = results.column("codes").to_pylist()
    for score_lists, patient_codes in zip(results.column("scores").to_pylist(), code_lists,
                                          strict=True):
        have = set(patient_codes or ())
        seen: dict[str, bool] = {}
        for s in score_lists or ():
            base = s["name"].split("@", 1)[0]
            seen[base] = seen.get(base, False) or s["value"] is None
        for base, undetermined in seen.items():
            c = bands.setdefault(base, Counter())
            c["scored"] += 1
            if undetermined:
                c["undetermined (some input unknown)"] += 1
            for code in band_codes.get(base, ()):
                if code in have:
                    c[code] += 1

    def rows(counter: Counter[str], order: list[str] | None = None) -> list[dict[str, Any]]:
        keys = order if order is not None else [k for k, _ in counter.most_common()]
        return [{"name": k, "patients": counter[k], "percent": _pct(counter[k], total)}
                for k in keys]

    rules: list[dict[str, Any]] = []
    for r in query.rules:
        f, u = fired[r.rule_id], unknown[r.rule_id]
        rules.append({"rule": r.rule_id, "location": r.location, "fired": f,
                      "undetermined": u, "not": total - f - u if total >= f + u else 0,
                      "fired_percent": _pct(f, total), "undetermined_percent": _pct(u, total)})
    rules.sort(key=lambda x: (-x["fired"], -x["undetermined"], x["rule"]))
    return {
        "guideline": guideline, "engine": engine, "as_of": as_of, "patients": total,
        "seconds": seconds, "load": load.to_json(),
        "recommendations": rows(codes),
        "missing": rows(missing),
        "rules": rules,
        "scores": {name: rows(c, [k for k in ("scored", "undetermined (some input unknown)",
                                               *band_codes.get(name, ())) if k in c])
                   for name, c in sorted(bands.items())},
    }


def text(report: dict[str, Any], top: int = 25) -> str:
    load = report["load"]
    out = [f"{report['guideline']}: {report['patients']} patient(s) on {report['engine']}, "
           f"as of {report['as_of']}" + (f", {report['seconds']:.2f} s"
                                         if report.get("seconds") else ""),
           f"read {load['rows_read']} row(s) from {load['source']} ({load['kind']}): "
           f"{load['rows_valid']} valid, {load['rows_invalid']} left out"]
    for p in load["problems"]:
        out.append(f"  {p['table']}.{p['column']}: {p['problem']} ({p['rows']} row(s))")

    def section(title: str, rows: list[dict[str, Any]]) -> None:
        out.append("")
        out.append(title)
        if not rows:
            out.append("  (none)")
        width = max((len(r["name"]) for r in rows[:top]), default=0)
        for r in rows[:top]:
            out.append(f"  {r['name']:<{width}}  {r['patients']:>9}  {r['percent']:6.2f} %")
        if len(rows) > top:
            out.append(f"  ... {len(rows) - top} more (see --format json)")

    section("Recommendations (patients)", report["recommendations"])
    section("Missing requests (patients)", report["missing"])
    out.append("")
    out.append("Rule outcomes (fired / undetermined / not)")
    for r in report["rules"][:top]:
        out.append(f"  {r['rule']:<48} {r['fired']:>9} {r['undetermined']:>9} {r['not']:>9}")
    if len(report["rules"]) > top:
        out.append(f"  ... {len(report['rules']) - top} more (see --format json)")
    for name, rows in report["scores"].items():
        section(f"Score {name} (patients)", rows)
    return "\n".join(out)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:left;font-size:.9em}td.n{text-align:right}
svg text{font-size:11px;font-family:system-ui,sans-serif}.note{color:#555}"""


def _chart(rows: list[tuple[str, float, str]], colour: str = "#3b6ea5") -> str:
    """A horizontal bar chart (percentages) as inline SVG."""
    if not rows:
        return "<p class=note>(none)</p>"
    label_w, bar_w, row_h = 330, 420, 18
    height = row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 120}" '
             f'height="{height}" role="img">']
    for i, (label, pct, shown) in enumerate(rows):
        y = 5 + i * row_h
        w = max(0.0, min(100.0, pct)) / 100.0 * bar_w
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
                     f'{html.escape(label[:48])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{html.escape(shown)}'
                     '</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: dict[str, Any], top: int = 40) -> str:
    load = report["load"]
    esc = html.escape
    body = [f"<h1>Care gaps: {esc(report['guideline'])}</h1>",
            f"<p>{report['patients']} patient(s), engine {esc(report['engine'])}, as of "
            f"{esc(report['as_of'])}. Read {load['rows_read']} row(s) from "
            f"<code>{esc(load['source'])}</code>: {load['rows_valid']} valid, "
            f"{load['rows_invalid']} left out.</p>"]
    if load["problems"]:
        body.append("<table><tr><th>table</th><th>column</th><th>problem</th><th>rows</th>"
                    "</tr>" + "".join(
                        f"<tr><td>{esc(p['table'])}</td><td>{esc(p['column'])}</td>"
                        f"<td>{esc(p['problem'])}</td><td class=n>{p['rows']}</td></tr>"
                        for p in load["problems"]) + "</table>")

    def bars(rows: list[dict[str, Any]]) -> list[tuple[str, float, str]]:
        return [(r["name"], r["percent"], f"{r['patients']} ({r['percent']:.1f} %)")
                for r in rows[:top]]

    body.append("<h2>Recommendations</h2>" + _chart(bars(report["recommendations"])))
    body.append("<h2>Missing requests</h2>" + _chart(bars(report["missing"]), "#b5651d"))
    rule_rows = [(r["rule"], r["fired_percent"],
                  f"fired {r['fired']}, undetermined {r['undetermined']}")
                 for r in report["rules"][:top]]
    body.append("<h2>Rule outcomes (share of patients for whom the rule fired)</h2>"
                + _chart(rule_rows, "#4a8a4a"))
    unknown_rows = sorted(((r["rule"], r["undetermined_percent"],
                            f"{r['undetermined']} ({r['undetermined_percent']:.1f} %)")
                           for r in report["rules"] if r["undetermined"]),
                          key=lambda x: -x[1])[:top]
    body.append("<h2>Rules waiting on facts (undetermined)</h2>" + _chart(unknown_rows,
                                                                           "#888"))
    body.append("<h2>Score bands</h2>")
    for name, rows in report["scores"].items():
        body.append(f"<h3>{esc(name)}</h3>" + _chart(bars(rows), "#7a4a9a"))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Care gaps: {esc(report['guideline'])}</title><style>{_STYLE}</style>"
            "</head><body>" + "\n".join(body) + "</body></html>\n")

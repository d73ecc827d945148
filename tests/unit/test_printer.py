"""The printer (`spinerules.lang.printer`) and `spinerules fmt` (issue #2, the front end)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from spinerules.cli import EXIT_GUIDELINE, EXIT_INTERNAL, EXIT_OK, main
from spinerules.lang import nodes as n
from spinerules.lang import printer
from spinerules.lang.parser import parse
from spinerules.lang.printer import (
    PrintError,
    UnsafeFormatError,
    dump,
    format_source,
    number,
    print_expr,
    print_file,
    print_item,
    quote,
)
from spinerules.lang.source import Source

ROOT = Path(__file__).resolve().parents[2]


def parsed(text: str) -> n.File:
    tree, problems = parse(Source("t.rules", text))
    assert tree is not None and not [d for d in problems if d.is_error], problems
    return tree


def fmt(text: str) -> str:
    out, problems = format_source(Source("t.rules", text))
    assert out is not None, problems
    return out


def expr_of(text: str) -> n.Expr:
    item = parsed(f"define x: {text}").items[0]
    assert isinstance(item, n.Define)
    return item.expr


# ----------------------------------------------------------------------------- expressions

a, b, c = (n.Path(names=(x,)) for x in "abc")
CHILDREN: list[n.Expr] = [
    a, n.Number(value=-2.0), n.Number(value=12.0, unit="weeks"),
    n.BoolOp(op="or", operands=(a, b)), n.BoolOp(op="and", operands=(a, b)),
    n.Not(operand=a), n.IsKnown(operand=a, known=False), n.IsKnown(operand=a, known=True),
    n.Compare(op="<", left=a, right=b), n.InRange(value=a, low=b, high=c),
    n.InSet(value=a, items=(b,)), n.Arith(op="+", left=a, right=b),
    n.Arith(op="-", left=a, right=b), n.Arith(op="*", left=a, right=b),
    n.Arith(op="/", left=a, right=b), n.Neg(operand=a),
    n.Quantifier(kind="any", var="f", source=a, condition=b),
]


def parents(x: n.Expr) -> list[n.Expr]:
    """Every place an expression can stand: each operand of each construct."""
    return [
        n.BoolOp(op="or", operands=(x, a)), n.BoolOp(op="or", operands=(a, x)),
        n.BoolOp(op="and", operands=(x, a)), n.BoolOp(op="and", operands=(a, x)),
        n.Not(operand=x), n.IsKnown(operand=x, known=False),
        n.Compare(op="==", left=x, right=a), n.Compare(op=">=", left=a, right=x),
        n.InRange(value=x, low=a, high=b), n.InRange(value=a, low=x, high=b),
        n.InRange(value=a, low=b, high=x), n.InSet(value=x, items=(a,)),
        n.InSet(value=a, items=(x, b)),
        *(n.Arith(op=op, left=x, right=a) for op in "+-*/"),
        *(n.Arith(op=op, left=a, right=x) for op in "+-*/"),
        n.Neg(operand=x),
        n.Quantifier(kind="count", var="f", source=x, condition=None),
        n.Quantifier(kind="all", var="f", source=a, condition=x),
    ]


CASES = [p for child in CHILDREN for p in parents(child)
         if not (isinstance(p, n.Neg) and isinstance(p.operand, n.Number))]


@pytest.mark.parametrize("e", CASES, ids=[print_expr(e) for e in CASES])
def test_every_construct_in_every_operand_place_round_trips(e: n.Expr) -> None:
    assert expr_of(print_expr(e)) == e


@pytest.mark.parametrize(("source", "canonical"), [
    ("a or b and c", "a or (b and c)"),  # an `and` inside an `or` keeps its parentheses
    ("(a or b) and c", "(a or b) and c"),
    ("(a and b) and c", "(a and b) and c"),  # nesting is AST: `a and b and c` is flat
    ("a and b and c", "a and b and c"),
    ("not (a and b)", "not (a and b)"),
    ("not(a)", "not a"),
    ("not not a", "not not a"),
    ("unknown (a < b)", "unknown a < b"),
    ("unknown (not a)", "unknown (not a)"),
    ("(a < b) == c", "(a < b) == c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a * (b + c)", "a * (b + c)"),
    ("(a * b) + c", "a * b + c"),
    ("a / (b * c)", "a / (b * c)"),
    ("-(a + b)", "-(a + b)"),
    ("- - a", "--a"),
    ("a - -2", "a - -2"),
    ("--2", "2"),
    ("-(2)", "-2"),
    ("12.50 weeks", "12.5 weeks"),
    ("25%", "25 %"),
    ("3.0", "3"),
    ("0.000010", "0.00001"),
    ("x in T11 .. L2", "x in T11..L2"),
    ("x in 20 %..25 %", "x in 20 % .. 25 %"),
    ("x in [ a,b ]", "x in [a, b]"),
    ("x in [a or b]", "x in [a or b]"),
    ("any( f in xs : f.a )", "any(f in xs: f.a)"),
    ("count(f in xs)", "count(f in xs)"),
    ('"say \\"hi\\"\\n\\ttab"', '"say \\"hi\\"\\n\\ttab"'),
    ("2026-02-18", "2026-02-18"),
    ("today", "today"),
    ("true == false", "true == false"),
    ("any_red_flag or all_clear", "any_red_flag or all_clear"),
])
def test_canonical_expressions(source: str, canonical: str) -> None:
    assert print_expr(expr_of(source)) == canonical
    assert expr_of(canonical) == expr_of(source)


def test_quote_and_number() -> None:
    assert quote('a "b" \\ c\nd\te') == '"a \\"b\\" \\\\ c\\nd\\te"'
    assert [number(x) for x in (0.0, -0.0, 7.0, -2.5, 1e-05, 1e20, 0.1)] == [
        "0", "0", "7", "-2.5", "0.00001", "100000000000000000000", "0.1"]
    with pytest.raises(PrintError):
        number(float("inf"))


@pytest.mark.parametrize("node", [
    n.BoolOp(op="and", operands=(a,)),
    n.Neg(operand=n.Number(value=2.0)),
    n.InSet(value=a, items=()),
    n.Path(names=()),
])
def test_expressions_the_language_cannot_spell(node: n.Expr) -> None:
    with pytest.raises(PrintError):
        print_expr(node)


@pytest.mark.parametrize("item", [
    n.Rule(rule_id="r", when=None, unless=(), actions=()),
    n.Source(key="S"),
    n.Test(name="t"),
    n.Score(name="s", source=a, arms=(n.Arm(pattern=n.Pattern(kind="else"), points=1.0),)),
    n.Score(name="s", source=None, cites=(n.Citation(key="S"),)),
    n.Invariant(name="i", codes=()),
    # `-> 0 classify c` then `"x" -> 1`: the grammar reads "x" as the text of `classify c`
    n.Score(name="s", source=a, cites=(n.Citation(key="S"),), arms=(
        n.Arm(pattern=n.Pattern(kind="else"), points=0.0,
              action=n.Action(kind="classify", code="c")),
        n.Arm(pattern=n.Pattern(kind="eq", values=(n.String(value="x"),)), points=1.0))),
])
def test_items_the_language_cannot_spell(item: n.Item) -> None:
    with pytest.raises(PrintError):
        print_item(item)


# ----------------------------------------------------------------------------- items

ALL_CONSTRUCTS = """\
guideline  demo "Demo guideline"  description "All constructs"  review 2027-06-30
  status draft record spine.Patient version "1.0"
module demo.parts "Parts"
import "parts.rules"
import demo.more  import spinerules:vcf.red_flags
enum demo.Kind ordered "Kinds":a "first",b enum demo.Plain: x
type demo.Rec "A record": field n: number % 0 .. 100 "share"
  field k: list of Kind field m: integer >= 0 field w: number weeks <= 52
source S: url "https://example.org" title "A \\"quoted\\" title" year 2020 unverified
source T: title "T" unverified "checked by hand" pmid "123" doi "10.1/x" authors "A, B"
  publisher "P" journal "J" evidence "RCT" note "n"
define late: patient.weeks>=12 weeks and not(patient.flag or patient.other)
define at: patient.seen <= today and patient.seen > 2020-01-01 and x in T11 .. L2
  and y in [a,b] and z in 20 % .. 25%
rule S1.r: when late unless at recommend foo "Text" strength strong urgency soon
  cite S "loc", T against T "no" consider bar cite S
for f in patient.fractures:
  score g from f.loss:
    < 20 % -> 0 classify g0 "Grade 0" strength weak
    20 % .. 25 % -> 1
    [burst, compression] -> 2 classify g2
    else -> 3
    cite S
  score tl:
    component m from f.kind ask "a CT":
      compression -> 1
      burst -> 2.5
    band <= 3 -> classify low "Low."
    band 4..10 -> classify high
    cite S against T
invariant "never both": never a and b when patient.age < 18 years
test "case": expect a, b expect no c given "p.json" as_of 2026-02-18
  expect missing d expect score g 1 expect score tl 3..6 expect e
"""

ALL_CONSTRUCTS_CANONICAL = """\
guideline demo "Demo guideline"
  version "1.0"
  record spine.Patient
  status draft
  review 2027-06-30
  description "All constructs"
module demo.parts "Parts"
import "parts.rules"
import demo.more
import spinerules:vcf.red_flags
enum demo.Kind ordered "Kinds":
  a "first",
  b
enum demo.Plain: x
type demo.Rec "A record":
  field n: number % 0..100 "share"
  field k: list of Kind
  field m: integer >= 0
  field w: number weeks <= 52
source S:
  title "A \\"quoted\\" title"
  year 2020
  url "https://example.org"
  unverified
source T:
  title "T"
  authors "A, B"
  publisher "P"
  journal "J"
  doi "10.1/x"
  pmid "123"
  evidence "RCT"
  note "n"
  unverified "checked by hand"
define late: patient.weeks >= 12 weeks and not (patient.flag or patient.other)
define at:
  patient.seen <= today
  and patient.seen > 2020-01-01
  and x in T11..L2
  and y in [a, b]
  and z in 20 % .. 25 %
rule S1.r:
  when late
  unless at
  recommend foo "Text"
    strength strong
    urgency soon
    cite S "loc", T
    against T "no"
  consider bar
    cite S
for f in patient.fractures:
  score g from f.loss:
    < 20 %               -> 0 classify g0 "Grade 0"
      strength weak
    20 % .. 25 %         -> 1
    [burst, compression] -> 2 classify g2
    else                 -> 3
    cite S
  score tl:
    component m from f.kind ask "a CT":
      compression -> 1
      burst       -> 2.5
    band <= 3  -> classify low "Low."
    band 4..10 -> classify high
    cite S
    against T
invariant "never both":
  never a and b when patient.age < 18 years
test "case":
  given "p.json"
  as_of 2026-02-18
  expect a, b, e
  expect no c
  expect missing d
  expect score g 1
  expect score tl 3..6
"""


def test_every_construct_has_one_canonical_spelling() -> None:
    assert fmt(ALL_CONSTRUCTS) == ALL_CONSTRUCTS_CANONICAL
    assert fmt(ALL_CONSTRUCTS_CANONICAL) == ALL_CONSTRUCTS_CANONICAL
    assert parsed(ALL_CONSTRUCTS_CANONICAL) == parsed(ALL_CONSTRUCTS)


def test_every_node_class_is_printed() -> None:
    """Between them, the golden file and the expressions above hold every node class."""
    seen = {type(x).__name__ for x in printer._walk(parsed(ALL_CONSTRUCTS).items)}
    seen |= {type(x).__name__ for x in printer._walk(tuple(CASES))}
    seen |= {type(x).__name__ for x in printer._walk(expr_of('"text" == true'))}
    made = {name for name, cls in vars(n).items() if isinstance(cls, type)
            and issubclass(cls, n.Node) and cls not in (n.Node, n.File, n.Comment)}
    assert made <= seen, made - seen


def test_long_lines_break_where_the_language_allows() -> None:
    cond = " and ".join(f"patient.symptom_{i} >= {i} weeks" for i in range(6))
    codes = ", ".join(f"code_number_{i}" for i in range(12))
    cites = ", ".join(f'SOURCE_{i} "recommendation {i}"' for i in range(5))
    text = fmt(f"""rule r: when {cond} or x
  recommend a "{'long text ' * 10}" cite {cites}
test "t": expect {codes}
define q: any(f in patient.fractures: {cond})
""")
    assert all(len(line) <= 100 for line in text.splitlines() if '"long' not in line)
    assert "  when (patient.symptom_0 >= 0 weeks\n        and patient.symptom_1" in text
    assert "\n    or x\n" in text  # operators hang left of the operands after `when`
    assert '  recommend a\n    "long text' in text
    assert ",\n         SOURCE_" in text  # citations continue under the first one
    assert ",\n         code_number_" in text
    assert "define q:\n  any(f in patient.fractures: patient.symptom_0" not in text
    assert "define q:\n  any(f in patient.fractures:\n      patient.symptom_0" in text


def test_blank_lines_between_items_are_kept_collapsed_and_none_inside_items() -> None:
    source = "define a: 1\n\n\n\ndefine b: 2\ndefine c: 3\nrule r:\n\n  when a\n\n" \
             "  recommend x cite S\n"
    assert fmt(source) == "define a: 1\n\ndefine b: 2\ndefine c: 3\nrule r:\n  when a\n" \
                          "  recommend x\n    cite S\n"


def test_an_ast_without_positions_gets_a_blank_line_between_items() -> None:
    file = n.File(name="x", items=(n.Import(path="a.rules"), n.For(
        var="f", source=a, items=(n.Define(name="d", expr=b), n.Define(name="e", expr=c)))))
    assert print_file(file) == (
        'import "a.rules"\n\nfor f in a:\n  define d: b\n\n  define e: c\n')


# ----------------------------------------------------------------------------- comments

DOCS_HEADER = """\
# Header of the guideline.
guideline vcf "Osteoporotic vertebral compression fracture"
  version "1.0.0"
  record spine.Patient          # the patient-record schema it is checked against
  status active                 # draft | active | retired
  review 2027-06-30             # next review date
"""


def test_trailing_comments_stay_on_their_header_lines() -> None:
    assert fmt(DOCS_HEADER) == """\
# Header of the guideline.
guideline vcf "Osteoporotic vertebral compression fracture"
  version "1.0.0"
  record spine.Patient  # the patient-record schema it is checked against
  status active  # draft | active | retired
  review 2027-06-30  # next review date
"""


COMMENTED = """\
# file comment

# about a
define a:   # after the head
  x and   # after x
  # before y
  y or z

rule r:  # the rule
  # before when
  when a  # w
   and b
  recommend foo
    "text"  # on the text
    # before strength
    strength moderate
    cite S "loc",  # first citation
      T   # second citation
source S:
  url "https://x"
  # before the title, which the printer puts first
  title "T"  # the title
test "t":
  expect a  # first expect
  expect no b
  expect c   # merged into the first line
for f in xs:
  # in the loop
  define d: f.a # trailing
# the end
"""


def test_comments_go_back_beside_their_code() -> None:
    assert fmt(COMMENTED) == """\
# file comment

# about a
define a:  # after the head
  (x  # after x
   # before y
   and y)
  or z

rule r:  # the rule
  # before when
  when a  # w
   and b
  recommend foo "text"  # on the text
    # before strength
    strength moderate
    cite S "loc",  # first citation
         T  # second citation
source S:
  # before the title, which the printer puts first
  title "T"  # the title
  url "https://x"
test "t":
  expect a, c  # first expect
  # merged into the first line
  expect no b
for f in xs:
  # in the loop
  define d: f.a  # trailing
# the end
"""


def test_comments_keep_their_order_and_fmt_is_idempotent() -> None:
    once = fmt(COMMENTED)
    assert fmt(once) == once
    texts = re.findall(r"#[^\n]*", COMMENTED)
    assert [c.text for c in parsed(once).comments] == [t.rstrip() for t in texts]


def test_when_fields_are_reordered_comments_keep_their_order() -> None:
    """The title is printed before the url; a comment that trails the url and one that
    precedes the title cannot both stay beside their lines, and order wins."""
    text = fmt('source S:\n  url "u"  # the url\n  # about the title\n  title "T"\n'
               "define a: 1\n")
    assert text == ('source S:\n  title "T"\n  url "u"  # the url\n# about the title\n'
                    "define a: 1\n")


def test_crlf_and_trailing_spaces_are_normalised() -> None:
    assert fmt("define a: 1   # c  \r\ndefine b: 2\r\n") == "define a: 1  # c\ndefine b: 2\n"


def test_a_string_holding_a_hash_is_not_a_comment() -> None:
    assert fmt('import "a#b.rules" # real\n') == 'import "a#b.rules"  # real\n'
    assert [c.text for c in parsed('import "a#b.rules" # real\n').comments] == ["# real"]


# ----------------------------------------------------------------------------- dump


def test_dump_leaves_out_positions_and_defaults() -> None:
    tree = parsed("rule S1.r: when x >= 12 weeks recommend a cite S \"p. 4\"  # why\n")
    assert dump(tree) == (
        '(Rule rule_id=S1.r when=(Compare op=">=" left=(Path names=[x]) '
        "right=(Number value=12 unit=weeks)) unless=[] actions=[(Action kind=recommend "
        'code=a cites=[(Citation key=S locator="p. 4")])])\n'
        '(Comment text="# why" trailing=true)')
    assert dump(expr_of("nil_x or \"nil\"")) == (
        '(BoolOp op=or operands=[(Path names=[nil_x]) (String value="nil")])')
    assert dump(parsed("test \"t\": as_of 2026-02-18 expect score g 1").items[0]) == (
        '(Test name=t as_of=2026-02-18 expect_scores=[(ScoreExpect name=g low=1 high=1)])')


# ----------------------------------------------------------------------------- format_source


def test_format_source_reports_a_file_with_errors_and_prints_nothing() -> None:
    text, problems = format_source(Source("t.rules", "rule x when a\n"))
    assert text is None
    assert [d.code for d in problems] == ["SR102"]
    text, problems = format_source(Source("t.rules", "define a: 3 parsecs\n"))
    assert text is None and [d.code for d in problems] == ["SR109"]


@pytest.mark.parametrize(("text", "key", "line"), [
    ('guideline g "G"\n  version "1"\n  version "2"\n', "version", 3),
    ('source S:\n  title "a"\n  url "u"\n  title "b"\n', "title", 4),
    ('test "t":\n  as_of 2026-01-01\n  expect a\n  as_of 2026-02-01\n', "as_of", 4),
    ("rule r:\n  recommend x strength weak cite S strength strong\n", "strength", 2),
    ("score s from x:\n  else -> 1 classify c urgency soon urgency routine\n  cite S\n",
     "urgency", 2),
])
def test_a_clause_given_twice_is_an_error_not_silently_dropped(text: str, key: str,
                                                                line: int) -> None:
    """The AST keeps only the last: printing it would lose the first."""
    formatted, problems = format_source(Source("t.rules", text))
    assert formatted is None
    assert [(d.code, d.message, d.span.line) for d in problems] == [
        ("SR221", f"invalid repetition of `{key}`", line)]


def test_clauses_that_add_up_may_repeat() -> None:
    assert fmt('test "t":\n  expect a\n  expect b\nrule r:\n  recommend x cite A cite B\n') == (
        'test "t":\n  expect a, b\nrule r:\n  recommend x\n    cite A, B\n')


def test_format_source_refuses_output_that_means_something_else(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printer, "print_file", lambda f: "define a: 2\n")
    with pytest.raises(UnsafeFormatError, match="means something else"):
        format_source(Source("t.rules", "define a: 1\n"))
    monkeypatch.setattr(printer, "print_file", lambda f: "define a: 1\n")
    with pytest.raises(UnsafeFormatError, match="comments"):
        format_source(Source("t.rules", "define a: 1  # keep me\n"))
    monkeypatch.setattr(printer, "print_file", lambda f: "define a: (1\n")
    with pytest.raises(UnsafeFormatError, match="does not parse"):
        format_source(Source("t.rules", "define a: 1\n"))


@pytest.mark.parametrize("i", range(len(re.findall(
    r"```rules\n", (ROOT / "docs/authors/language.md").read_text()))))
def test_language_reference_examples_format_stably(i: int) -> None:
    block = re.findall(r"```rules\n(.*?)```", (ROOT / "docs/authors/language.md").read_text(),
                       re.S)[i]
    once = fmt(block)
    assert fmt(once) == once
    assert parsed(once) == parsed(block)


# ----------------------------------------------------------------------------- the CLI

MESSY = "define  a:1+2   # sum\nrule r: when a recommend x cite S\n"
TIDY = "define a: 1 + 2  # sum\nrule r:\n  when a\n  recommend x\n    cite S\n"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fmt", *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "messy.rules").write_text(MESSY)
    (tmp_path / "sub" / "tidy.rules").write_text(TIDY)
    (tmp_path / "notes.txt").write_text("not a guideline")
    return tmp_path


def test_fmt_rewrites_files_in_place(tree: Path) -> None:
    code, _, err = run(str(tree))
    assert code == EXIT_OK
    assert (tree / "messy.rules").read_text() == TIDY
    assert (tree / "sub" / "tidy.rules").read_text() == TIDY
    assert (tree / "notes.txt").read_text() == "not a guideline"
    assert f"reformatted {tree / 'messy.rules'}" in err
    assert "1 file(s) reformatted, 1 unchanged" in err
    assert run(str(tree))[0] == EXIT_OK


def test_fmt_check_lists_what_would_change_and_writes_nothing(tree: Path) -> None:
    code, out, _ = run("--check", str(tree))
    assert code == EXIT_GUIDELINE
    assert out == f"would reformat {tree / 'messy.rules'}\n"
    assert (tree / "messy.rules").read_text() == MESSY
    assert run("--check", str(tree / "sub"))[0] == EXIT_OK


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(tree: Path) -> None:
    path = str(tree / "messy.rules")
    code, out, _ = run("--diff", path)
    assert code == EXIT_OK
    shown = path.lstrip("/")
    assert out.startswith(f"--- a/{shown}\n+++ b/{shown}\n@@ ")
    assert "\n-define  a:1+2   # sum\n" in out and "\n+define a: 1 + 2  # sum\n" in out
    assert (tree / "messy.rules").read_text() == MESSY
    code, out, _ = run("--diff", "--check", path)
    assert code == EXIT_GUIDELINE and out.startswith("--- a/")


def test_fmt_leaves_a_file_with_syntax_errors_untouched(tree: Path) -> None:
    bad = tree / "bad.rules"
    bad.write_text("rule r when a\n  recommend x cite S\n")
    code, _, err = run(str(tree))
    assert code == EXIT_GUIDELINE
    assert bad.read_text() == "rule r when a\n  recommend x cite S\n"
    assert "error[SR102]: unexpected `when`" in err
    assert f"--> {bad}:1:8" in err
    assert (tree / "messy.rules").read_text() == TIDY  # the other files are formatted


TYPED_ENTRY = """guideline g "G"
  record spine.Patient
import "m.rules"
source S:
  title "S"
  url "https://example.org"
rule r:
  when   patient.age >= 65
  recommend x "X." cite S
"""


def test_fmt_leaves_files_with_type_or_name_errors_untouched(tmp_path: Path) -> None:
    """#12: "left untouched" holds for every error `check` reports, not only syntax: the
    entry file (a number compared with an age) and a module it imports (an unknown field)."""
    entry, module = tmp_path / "g.rules", tmp_path / "m.rules"
    entry.write_text(TYPED_ENTRY)
    module.write_text('module m "M"\ndefine  d:   patient.neuro.defcit\n')
    before = entry.read_text(), module.read_text()
    code, _, err = run(str(tmp_path))
    assert code == EXIT_GUIDELINE
    assert (entry.read_text(), module.read_text()) == before
    assert "error[SR301]: cannot compare `Duration` with `Number`" in err
    assert "error[SR204]: `Neuro` has no field `defcit`" in err
    assert "0 file(s) reformatted, 0 unchanged, 2 not formatted" in err
    module.write_text('module m "M"\ndefine  d:   patient.neuro.deficit\n')
    entry.write_text(TYPED_ENTRY.replace(">= 65", ">= 65 years"))
    assert run(str(tmp_path))[0] == EXIT_OK  # fixed: both formatted
    assert module.read_text() == 'module m "M"\ndefine d: patient.neuro.deficit\n'
    alone = TYPED_ENTRY.replace('import "m.rules"\n', "")
    code, out, err = run("-", stdin=alone)  # standard input too
    assert (code, out) == (EXIT_GUIDELINE, "") and "error[SR301]" in err
    assert run("-", stdin=alone.replace(">= 65", ">= 65 years"))[0] == EXIT_OK


def test_fmt_reports_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "b.rules"
    binary.write_bytes(b"define a: 1\x00")
    code, _, err = run(str(binary), str(tmp_path / "missing.rules"))
    assert code == EXIT_GUIDELINE
    assert "SR105" in err and "SR110" in err
    assert binary.read_bytes() == b"define a: 1\x00"


def test_fmt_refuses_to_write_what_it_cannot_format_safely(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printer, "print_file", lambda f: "define a: 3\n")
    code, _, err = run(str(tree / "messy.rules"))
    assert code == EXIT_INTERNAL
    assert "internal error" in err and "left unchanged" in err
    assert (tree / "messy.rules").read_text() == MESSY


def test_fmt_reads_standard_input() -> None:
    assert run("-", stdin=MESSY) == (EXIT_OK, TIDY, "")
    assert run("--check", "-", stdin=TIDY)[0] == EXIT_OK
    assert run("--check", "-", stdin=MESSY)[0] == EXIT_GUIDELINE


def test_fmt_keeps_the_file_mode(tree: Path) -> None:
    path = tree / "messy.rules"
    path.chmod(0o640)
    run(str(path))
    assert path.stat().st_mode & 0o777 == 0o640
    assert not list(tree.glob(".messy.rules.*"))  # no temporary file left behind


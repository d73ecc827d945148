"""docs/authors/walkthrough.md, run: every command in it, in order, in an empty folder.

The page's conventions: a ```sh block holds commands, one a line (``# exits N`` after one
says the exit status it must have, 0 otherwise); a ```text block after it holds lines its
output must contain; a fenced block right after ``<!-- file: PATH -->`` is written to PATH
before the next command. ``spinerules`` runs in this process (click's runner), ``pytest``
in a child process, ``cd`` changes the folder for the commands after it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from spinerules.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "authors" / "walkthrough.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
_FILE = re.compile(r"<!-- file: (\S+) -->\n\Z")


def steps(text: str) -> list[tuple[str, str, str]]:
    """(kind, argument, body): ("file", path, text), ("sh", "", commands), ("text", "", lines)."""
    out = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        marker = _FILE.search(text, 0, m.start())
        if marker is not None and marker.end() == m.start():
            out.append(("file", marker.group(1), body))
        elif lang in ("sh", "text"):
            out.append((lang, "", body))
    return out


def run(command: str, cwd: Path) -> tuple[int, str]:
    args = shlex.split(command, comments=True)
    if args[0] == "spinerules":
        old = Path.cwd()
        os.chdir(cwd)
        try:
            result = CliRunner().invoke(main, args[1:])
        finally:
            os.chdir(old)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"`{command}` crashed:\n{result.output}") from result.exception
        assert "Traceback" not in result.output, result.output
        return result.exit_code, result.output
    if args[0] == "pytest":
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run([sys.executable, "-m", "pytest", *args[1:]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout + done.stderr
    raise AssertionError(f"the walkthrough runs only spinerules, pytest and cd: {command}")


def test_every_command_of_the_walkthrough_runs_as_shown(tmp_path: Path) -> None:
    cwd = tmp_path
    found = steps(PAGE.read_text(encoding="utf-8"))
    commands = 0
    output = ""
    for kind, argument, body in found:
        if kind == "file":
            target = cwd / argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
        elif kind == "sh":
            output = ""
            for line in body.splitlines():
                if not line.strip():
                    continue
                if line.startswith("cd "):
                    cwd = (cwd / line[3:].strip()).resolve()
                    continue
                want = re.search(r"#\s*exits (\d+)", line)
                code, out = run(line, cwd)
                expected = int(want.group(1)) if want else 0
                assert code == expected, f"`{line}` exited {code}, not {expected}:\n{out}"
                output += out
                commands += 1
        else:
            for line in body.splitlines():
                if line.strip():
                    assert line.strip() in output, f"{line!r} not in:\n{output}"
    assert commands >= 12
    assert sum(kind == "file" for kind, _, _ in found) >= 5

"""The grammar's analysed tables are cached between processes, in a folder of the user's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spinerules.lang import parser

PRINT_AST = ("import spinerules; from spinerules.lang import parser; "
             "from spinerules.lang.resources import guidelines_dir; "
             "path = guidelines_dir() / 'vcf' / 'vcf.rules'; "
             "print(repr(parser._table_cache())); "
             "from spinerules.lang.source import Source; "
             "print(repr(parser.parse(Source(str(path), path.read_text())))); "
             "print(repr(spinerules.load('vcf')))")


def _run(cache_home: Path, **extra: str) -> list[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), **extra}
    env.pop("SPINERULES_NO_CACHE", None) if "SPINERULES_NO_CACHE" not in extra else None
    out = subprocess.run([sys.executable, "-c", PRINT_AST], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return out.stdout.splitlines()


def test_the_tables_are_written_once_and_read_back_with_the_same_result(tmp_path: Path) -> None:
    first = _run(tmp_path)
    folder = tmp_path / "spinerules"
    files = list(folder.glob("grammar-*.pickle"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000
    assert folder.stat().st_mode & 0o777 == 0o700
    stamp = files[0].stat().st_mtime_ns
    second = _run(tmp_path)
    assert second == first  # same cache path, same guideline
    assert files[0].stat().st_mtime_ns == stamp  # read, not rewritten


def test_a_corrupt_cache_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    _run(tmp_path)
    (cached,) = (tmp_path / "spinerules").glob("grammar-*.pickle")
    cached.write_bytes(b"not a pickle\n")
    assert _run(tmp_path)[1:] == _run(tmp_path / "other")[1:]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_folder_open_to_others_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    (tmp_path / "spinerules").mkdir(mode=0o777)
    os.chmod(tmp_path / "spinerules", 0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SPINERULES_NO_CACHE", raising=False)
    assert parser._table_cache() is False
    os.chmod(tmp_path / "spinerules", 0o700)
    cached = parser._table_cache()
    assert isinstance(cached, str) and cached.startswith(str(tmp_path / "spinerules"))


def test_the_cache_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPINERULES_NO_CACHE", "1")
    assert parser._table_cache() is False

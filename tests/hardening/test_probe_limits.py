"""The probe helper's limits are real (or every other test here would prove nothing)."""

from __future__ import annotations

import pytest

from .conftest import run_bounded


def test_a_probe_that_allocates_a_gigabyte_is_stopped() -> None:
    with pytest.raises(pytest.fail.Exception, match="out of memory"):
        run_bounded("x = bytearray(1024 ** 3)")


def test_a_probe_that_takes_ten_seconds_is_stopped() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"more than 5\.0 s"):
        run_bounded("import time\ntime.sleep(10)")


def test_a_probe_that_raises_is_reported() -> None:
    with pytest.raises(pytest.fail.Exception, match="traceback"):
        run_bounded("raise ValueError('x')")


def test_a_quiet_probe_passes() -> None:
    assert run_bounded("print('ok')").out == "ok\n"

"""Fuzzing (a): arbitrary bytes and text as a `.rules` file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import HEADER, check_rules_bytes, examples

pytestmark = pytest.mark.fuzz

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=examples(ci=1500, long=30_000))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_bytes")


# Bytes that are mostly printable, sometimes with the bytes that trip decoders.
_SPICE = st.sampled_from([b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"\xc3", b"\xed\xa0\x80",
                          b"\r", b"\r\n", b"\t", b"\x0c", b"\x1b[0m", b"\xe2\x80\xae", b'"', b"#"])
_CHUNKS = st.one_of(st.binary(max_size=64), _SPICE,
                    st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))


@SETTINGS
@given(data=st.one_of(
    st.binary(max_size=4096),
    st.lists(_CHUNKS, max_size=24).map(b"".join),
    st.lists(_CHUNKS, max_size=24).map(lambda cs: HEADER.encode() + b"".join(cs)),
))
def test_random_bytes_as_a_rules_file(folder: Path, data: bytes) -> None:
    check_rules_bytes(data, folder)

"""Actor keys: validation, REST serialization (``serializeActorKey``) and ``rvt-key``."""

from __future__ import annotations

import pytest

from rivetkit_web.protocol.keys import (
    normalize_key,
    query_key,
    serialize_key,
)

from ._wire import deserialize_key


# --------------------------------------------------------------------------- normalize_key


@pytest.mark.parametrize(
    "key, expected",
    [
        (None, ()),
        ("room", ("room",)),
        ("", ("",)),
        ([], ()),
        (["org/1", "r1"], ("org/1", "r1")),
        (("a", "b"), ("a", "b")),
        (["é☃"], ("é☃",)),
    ],
)
def test_normalize_key(key, expected):
    assert normalize_key(key) == expected
    assert isinstance(normalize_key(key), tuple)


@pytest.mark.parametrize(
    "key",
    [1, 1.5, b"room", bytearray(b"r"), {"a"}, {"a": 1}, object(), [1], ["a", None], [b"a"],
     (("a",),), iter(["a"])],
)
def test_bad_key_types_raise_type_error(key):
    with pytest.raises(TypeError):
        normalize_key(key)


def test_type_error_names_the_bad_part():
    with pytest.raises(TypeError, match="part 1 must be a str, not int"):
        normalize_key(["a", 2])


def test_long_keys_are_left_to_the_engine():
    # A local engine accepted 3,000-byte parts; the client does not guess a limit.
    assert normalize_key(["a" * 3000, "é" * 500]) == ("a" * 3000, "é" * 500)


# --------------------------------------------------------------------------- serialize_key (§2b)


@pytest.mark.parametrize(
    "key, expected",
    [
        ((), "/"),
        (("",), "\\0"),
        (("org/1", "r1"), "org\\/1/r1"),  # protocol.md §2b
        (("org/1", "r4"), "org\\/1/r4"),
        (("a",), "a"),
        (("a", "b"), "a/b"),
        (("a\\b",), "a\\\\b"),
        (("\\/",), "\\\\\\/"),
        (("", ""), "\\0/\\0"),
        (("\\0",), "\\\\0"),
        (("/",), "\\/"),
        (("x,y",), "x,y"),
        (("é", "☃"), "é/☃"),
    ],
)
def test_serialize_key(key, expected):
    assert serialize_key(key) == expected


@pytest.mark.parametrize(
    "key",
    [(), ("",), ("", ""), ("/",), ("\\",), ("\\0",), ("0",), ("a/b", "c"), ("a", "b/c"),
     ("\\", "/"), ("\\\\", ""), ("a\\",), ("a\\", "b")],
)
def test_serialize_key_is_read_back_by_the_js_parser(key):
    assert deserialize_key(serialize_key(key)) == key


@pytest.mark.parametrize(
    "a, b",
    [
        (("a/b",), ("a", "b")),
        (("a\\", "b"), ("a\\/b",)),
        (("",), ()),
        (("",), ("\\0",)),
        (("", ""), ("",)),
        (("/",), ("", "")),
    ],
)
def test_serialize_key_distinguishes_lookalikes(a, b):
    assert serialize_key(a) != serialize_key(b)


# --------------------------------------------------------------------------- query_key (§2a)


@pytest.mark.parametrize(
    "key, expected",
    [
        ((), ""),  # rvt-key omitted
        (("r1",), "r1"),
        (("a/b", "c1"), "a/b,c1"),  # protocol.md §2a: rvt-key=a%2Fb%2Cc1 once URL-encoded
        (("a", "b", "c"), "a,b,c"),
        (("a\\b",), "a\\b"),
        (("é",), "é"),
    ],
)
def test_query_key(key, expected):
    assert query_key(key) == expected


@pytest.mark.parametrize("key", [("x,y",), ("x", "y,"), ("",), ("a", ""), (",",)])
def test_query_key_refuses_ambiguous_keys(key):
    # ["x,y"] and ["x","y"] reach the same actor through rvt-key (verified, §2a)
    assert query_key(key) is None

"""The JSON-compat value model (``$BigInt``, ``$Uint8Array``, ``$Set``, ``$$`` escaping)."""

from __future__ import annotations

import json
from collections import OrderedDict
from decimal import Decimal

import pytest

from rivetkit_web.protocol.values import MAX_SAFE_INTEGER, from_compat, to_compat

from ._wire import same


# --------------------------------------------------------------------------- to_compat


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, 1, -1, 1.5, -0.0, "", "héllo ☃ 𝄞", MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER],
)
def test_scalars_pass_through(value):
    assert same(to_compat(value), value)


def test_bool_stays_bool_not_int():
    assert to_compat(True) is True
    assert to_compat([False]) == [False] and to_compat([False])[0] is False


@pytest.mark.parametrize(
    "value, wire",
    [
        (MAX_SAFE_INTEGER + 1, ["$BigInt", "9007199254740992"]),
        (-MAX_SAFE_INTEGER - 1, ["$BigInt", "-9007199254740992"]),
        (12345678901234567890, ["$BigInt", "12345678901234567890"]),  # protocol.md §3 (verified)
        (-(2**200), ["$BigInt", str(-(2**200))]),
    ],
)
def test_big_ints_become_bigint_tags(value, wire):
    assert to_compat(value) == wire


def test_bytes_like_become_uint8array_base64():
    # protocol.md §3: Uint8Array [1,2,3] -> ["$Uint8Array","AQID"] (verified)
    assert to_compat(b"\x01\x02\x03") == ["$Uint8Array", "AQID"]
    assert to_compat(bytearray(b"\x01\x02\x03")) == ["$Uint8Array", "AQID"]
    assert to_compat(memoryview(b"\x01\x02\x03")) == ["$Uint8Array", "AQID"]
    assert to_compat(b"") == ["$Uint8Array", ""]


def test_sets_become_set_tags():
    assert to_compat({7}) == ["$Set", [7]]
    assert to_compat(frozenset()) == ["$Set", []]
    tagged = to_compat({1, 2, 3})
    assert tagged[0] == "$Set" and sorted(tagged[1]) == [1, 2, 3]


@pytest.mark.parametrize(
    "value, wire",
    [
        (["$x", 1], ["$$x", 1]),
        (["$BigInt", "5"], ["$$BigInt", "5"]),
        (["$$x", 1], ["$$$x", 1]),
        (["$", None], ["$$", None]),
        (("$x", 1), ["$$x", 1]),
        # only two-element arrays are tagged, so only they are escaped
        (["$x"], ["$x"]),
        (["$x", 1, 2], ["$x", 1, 2]),
        (["x", "$y"], ["x", "$y"]),
        # the escape is applied at every depth
        ({"a": [["$x", ["$y", 2]]]}, {"a": [["$$x", ["$$y", 2]]]}),
    ],
)
def test_dollar_pairs_are_escaped(value, wire):
    assert to_compat(value) == wire


def test_nested_structures_and_tuples():
    value = {"a": [1, (2, 3), {"b": b"\x00"}], "c": {"d": 2**64}}
    assert to_compat(value) == {
        "a": [1, [2, 3], {"b": ["$Uint8Array", "AA=="]}],
        "c": {"d": ["$BigInt", "18446744073709551616"]},
    }


def test_to_compat_result_is_json_serialisable():
    value = {"big": 2**70, "bytes": b"\xff", "set": {1}, "pair": ["$q", 1]}
    text = json.dumps(to_compat(value))
    assert json.loads(text) == to_compat(value)


def test_mapping_subclasses_are_accepted():
    assert to_compat(OrderedDict(a=1)) == {"a": 1}


@pytest.mark.parametrize(
    "value, where",
    [
        (object(), "value"),
        ({1: "a"}, "keys must be str"),
        ({"a": {2: 1}}, "value['a']"),
        ([1, object()], "value[1]"),
        (Decimal("1.5"), "Decimal"),
        (1j, "complex"),
        (lambda: None, "function"),
    ],
)
def test_unserialisable_values_raise_type_error(value, where):
    with pytest.raises(TypeError) as info:
        to_compat(value)
    assert where in str(info.value)


def test_type_error_names_the_path():
    with pytest.raises(TypeError, match=r"args\[0\]\['k'\]"):
        to_compat([{"k": object()}], path="args")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_raise_value_error(bad):
    with pytest.raises(ValueError):
        to_compat(bad)
    with pytest.raises(ValueError):
        to_compat({"nested": [bad]})


# --------------------------------------------------------------------------- from_compat


@pytest.mark.parametrize(
    "wire, value",
    [
        (["$BigInt", "12345678901234567890"], 12345678901234567890),
        (["$BigInt", "-5"], -5),
        (["$BigInt", 7], 7),  # a number payload is tolerated
        (["$Uint8Array", "AQID"], b"\x01\x02\x03"),
        (["$Uint8Array", b"\x01"], b"\x01"),  # CBOR may carry raw bytes
        (["$ArrayBuffer", "AQID"], b"\x01\x02\x03"),
        (["$Undefined", 0], None),
        (["$Set", [1, 2]], {1, 2}),
        (["$$x", 1], ["$x", 1]),
        (["$$$x", 1], ["$$x", 1]),
        (["$$", ["$BigInt", "1"]], ["$", 1]),
        ({"a": ["$BigInt", "1"]}, {"a": 1}),
        ([["$Uint8Array", ""]], [b""]),
        (["x", "$y"], ["x", "$y"]),
        (["$x"], ["$x"]),
    ],
)
def test_from_compat_decodes_tags(wire, value):
    assert same(from_compat(wire), value)


def test_set_with_unhashable_members_stays_a_list():
    assert from_compat(["$Set", [[1], {"a": 1}]]) == [[1], {"a": 1}]


@pytest.mark.parametrize(
    "wire",
    [
        ["$Nope", 1],
        ["$BigInt", "12x"],
        ["$BigInt", None],
        ["$BigInt", 1.5],
        ["$Uint8Array", "not base64!"],
        ["$Uint8Array", 5],
        ["$Set", "abc"],
        {"a": [["$Weird", 0]]},
    ],
)
def test_from_compat_rejects_bad_tags_with_value_error(wire):
    with pytest.raises(ValueError):
        from_compat(wire)


@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -1, 2**53, -(2**53), 2**64 + 1, 1.25, "", "$", "$x", b"", b"\x00\xff",
        [], {}, ["$x", 1], ["$$x", ["$y", 2]], ("$BigInt", "1"), {"$Set": ["$Set", [1]]},
        {1, 2, "a"}, [[[["$deep", [1]]]]], {"k": [b"1", 2**80, {"n": None}]},
    ],
)
def test_round_trip_through_json_text(value):
    expected = list(value) if isinstance(value, tuple) else value
    text = json.dumps(to_compat(value))
    assert same(from_compat(json.loads(text)), expected)

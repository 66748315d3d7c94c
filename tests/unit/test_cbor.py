"""The pure-Python CBOR codec, by example and against ``cbor2``."""

from __future__ import annotations

import math
import struct

import pytest

from rivetkit_web.protocol import cbor
from rivetkit_web.protocol.cbor import CBORDecodeError

from ._wire import same

try:  # cbor2 is a CPython-only cross-check; Pyodide runs without it
    import cbor2
except ImportError:  # pragma: no cover
    cbor2 = None

needs_cbor2 = pytest.mark.skipif(cbor2 is None, reason="cbor2 not installed")


# --------------------------------------------------------------------------- RFC 8949 vectors

VECTORS = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (255, "18ff"), (256, "190100"), (1000, "1903e8"), (65535, "19ffff"), (65536, "1a00010000"),
    (1000000, "1a000f4240"), (2**32 - 1, "1affffffff"), (2**32, "1b0000000100000000"),
    (1000000000000, "1b000000e8d4a51000"), (2**64 - 1, "1bffffffffffffffff"),
    (2**64, "c249010000000000000000"), (-(2**64), "3bffffffffffffffff"),
    (-(2**64) - 1, "c349010000000000000000"), (-1, "20"), (-10, "29"), (-100, "3863"),
    (-1000, "3903e7"), (False, "f4"), (True, "f5"), (None, "f6"),
    (1.5, "fb3ff8000000000000"), (-4.1, "fbc010666666666666"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    # protocol.md §3 (verified): {"output":7} and {"args":[2]}
    ({"output": 7}, "a1666f757470757407"),
    ({"args": [2]}, "a164617267738102"),
]


@pytest.mark.parametrize("value, hexstr", VECTORS)
def test_dumps_matches_vectors(value, hexstr):
    assert cbor.dumps(value).hex() == hexstr


@pytest.mark.parametrize("value, hexstr", VECTORS)
def test_loads_matches_vectors(value, hexstr):
    assert same(cbor.loads(bytes.fromhex(hexstr)), value)


@pytest.mark.parametrize(
    "hexstr, value",
    [
        ("f90000", 0.0), ("f98000", -0.0), ("f93c00", 1.0), ("f93e00", 1.5), ("f97bff", 65504.0),
        ("fa47c35000", 100000.0), ("fa7f7fffff", 3.4028234663852886e38),
        ("fb7e37e43c8800759c", 1.0e300), ("f97c00", math.inf), ("f9fc00", -math.inf),
        ("f97e00", math.nan), ("fa7fc00000", math.nan),
        ("f7", None),  # undefined -> None
        ("f0", None),  # unassigned simple value 16
        ("f818", None),  # one-byte simple value
        # non-shortest ints (JS sends ids as 1b 00..00, protocol.md §4)
        ("1b0000000000000000", 0), ("1800", 0), ("3b0000000000000000", -1),
        # indefinite lengths
        ("9fff", []), ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]),
        ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
        ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"), ("7f657374726561646d696e67ff", "streaming"),
        # tags: bignums decode, others are read through
        ("c249010000000000000000", 2**64), ("c349010000000000000000", -(2**64) - 1),
        ("c240", 0), ("c074323031332d30332d32315432303a30343a30305a", "2013-03-21T20:04:00Z"),
        ("d82076687474703a2f2f7777772e6578616d706c652e636f6d", "http://www.example.com"),
        # array map keys become tuples so that they can be dict keys
        ("a182010203", {(1, 2): 3}),
    ],
)
def test_loads_more(hexstr, value):
    assert same(cbor.loads(bytes.fromhex(hexstr)), value)


def test_loads_accepts_bytearray_and_memoryview():
    assert cbor.loads(bytearray(b"\x83\x01\x02\x03")) == [1, 2, 3]
    assert cbor.loads(memoryview(b"\x83\x01\x02\x03")) == [1, 2, 3]


def test_dumps_accepts_tuples_bytearrays_and_int_keys():
    assert cbor.dumps((1, 2)) == bytes.fromhex("820102")
    assert cbor.dumps(bytearray(b"\x01")) == bytes.fromhex("4101")
    assert cbor.dumps({1: 2}) == bytes.fromhex("a10102")


def test_floats_are_written_as_float64():
    assert cbor.dumps(0.0) == b"\xfb" + struct.pack(">d", 0.0)
    assert cbor.dumps(-0.0).hex() == "fb8000000000000000"
    assert cbor.loads(cbor.dumps(-0.0)) == 0.0 and math.copysign(1, cbor.loads(cbor.dumps(-0.0))) < 0


@pytest.mark.parametrize("value", [object(), {1, 2}, 1j, type])
def test_dumps_rejects_unsupported_types(value):
    with pytest.raises(TypeError):
        cbor.dumps(value)


def test_dumps_rejects_too_deep_values():
    value: list = []
    for _ in range(300):
        value = [value]
    with pytest.raises(ValueError):
        cbor.dumps(value)


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "hexstr",
    [
        "",  # nothing
        "18", "19ff", "1aff", "1bffffffffffffff",  # argument ends early
        "62c3",  # string shorter than its length
        "62c328",  # invalid UTF-8
        "6180",  # invalid UTF-8
        "830102",  # array ends early
        "a16161",  # map missing its value
        "0101",  # trailing bytes
        "1c", "1d", "1e",  # reserved additional information
        "1f", "3f",  # indefinite-length integer
        "dfa0",  # indefinite-length tag
        "fc", "fd", "fe",  # reserved simple encodings
        "5f01ff",  # integer chunk in an indefinite byte string
        "7f4161ff",  # byte chunk in an indefinite text string
        "9f01",  # indefinite array without break
        "bf6161ff",  # break where a map value should be
        "a1ff01",  # break as a map key in a definite map
        "81ff",  # break inside a definite array
        "a1a00101",  # a map key that cannot be hashed (a map)
        "a18180a0",  # an array key holding an array (unhashable tuple)
        "9b7fffffffffffffff",  # array claiming more items than bytes
        "5b7fffffffffffffff00",  # byte string longer than the data
        "bbffffffffffffffff01",  # map claiming 2**64-1 pairs
    ],
)
def test_malformed_input_raises_cbor_decode_error(hexstr):
    with pytest.raises(CBORDecodeError):
        cbor.loads(bytes.fromhex(hexstr))


def test_cbor_decode_error_is_a_value_error():
    assert issubclass(CBORDecodeError, ValueError)


@pytest.mark.parametrize("opener", ["81", "9f", "a100", "c1", "d818", "bf00"])
def test_deep_nesting_is_refused_not_a_recursion_error(opener):
    data = bytes.fromhex(opener * 100_000 + "00")
    with pytest.raises(CBORDecodeError):
        cbor.loads(data)


def test_moderate_nesting_decodes():
    data = bytes.fromhex("81" * 200 + "00")
    value = cbor.loads(data)
    for _ in range(200):
        value = value[0]
    assert value == 0


@pytest.mark.parametrize("hexstr", ["ff", "c0ff"])
def test_lone_break_is_an_error(hexstr):
    with pytest.raises(CBORDecodeError):
        cbor.loads(bytes.fromhex(hexstr))


# --------------------------------------------------------------------------- against cbor2

CROSS_VALUES = [
    0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, 2**100,
    -1, -24, -25, -(2**32), -(2**64), -(2**64) - 1, -(2**100),
    True, False, None, "", "x", "é☃𝄞", "a" * 300, "b" * 70000, b"", b"\x00" * 24, b"\xff" * 300,
    [], [1, [2, [3, []]]], list(range(30)), {}, {"a": 1}, {"k" + str(i): i for i in range(30)},
    {"body": {"tag": "ActionRequest", "val": {"id": 0, "name": "say", "args": ["hello"]}}},
    ["$BigInt", "12345678901234567890"],
]


@needs_cbor2
@pytest.mark.parametrize("value", CROSS_VALUES)
def test_our_bytes_equal_cbor2_bytes(value):
    assert cbor.dumps(value) == cbor2.dumps(value)


@needs_cbor2
@pytest.mark.parametrize("value", CROSS_VALUES + [1.5, -0.0, 1e300, -2.5e-310, math.inf])
def test_cbor2_reads_ours(value):
    assert same(cbor2.loads(cbor.dumps(value)), value)


@needs_cbor2
@pytest.mark.parametrize("value", CROSS_VALUES + [1.5, -0.0, 1e300, 65504.0, 0.1, math.inf])
@pytest.mark.parametrize("canonical", [False, True])
def test_we_read_cbor2(value, canonical):
    # canonical=True makes cbor2 pick the shortest float width (half/single)
    assert same(cbor.loads(cbor2.dumps(value, canonical=canonical)), value)


@needs_cbor2
def test_we_read_cbor2_nan_and_undefined():
    assert math.isnan(cbor.loads(cbor2.dumps(math.nan)))
    assert math.isnan(cbor.loads(cbor2.dumps(math.nan, canonical=True)))
    assert cbor.loads(cbor2.dumps(cbor2.undefined)) is None


@needs_cbor2
def test_we_read_cbor2_tagged_values_through():
    assert cbor.loads(cbor2.dumps(cbor2.CBORTag(1234, "x"))) == "x"
    assert cbor.loads(cbor2.dumps(cbor2.CBORTag(2, b"\x01\x00"))) == 256

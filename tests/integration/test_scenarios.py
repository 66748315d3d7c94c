"""The shared feature scenarios (tests/scenarios.py) on CPython, for every encoding."""

from __future__ import annotations

import pytest

from rivetkit_web import create_client
from scenarios import SCENARIOS

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("encoding", ["json", "cbor", "bare"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario(name: str, encoding: str, endpoint: str, uid: str) -> None:
    async with create_client(endpoint, encoding=encoding, timeout=30) as client:
        await SCENARIOS[name](client, uid)

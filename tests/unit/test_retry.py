"""Error classification, close reasons and backoff (protocol.md §5, §7)."""

from __future__ import annotations

import random

import pytest

from rivetkit_web.protocol.retry import (
    Backoff,
    CloseReason,
    is_fatal_connect_error,
    is_lifecycle_retry,
    is_reconnect_signal,
    is_scheduling_error,
    is_stale_actor,
    parse_close_reason,
)

# --------------------------------------------------------------------------- lifecycle retries (§7.1)

GUARD_RETRY = ["service_unavailable", "actor_wake_retries_exceeded", "actor_stopped_while_waiting",
               "tunnel_request_aborted", "tunnel_message_timeout", "tunnel_response_closed",
               "gateway_response_start_timeout"]


@pytest.mark.parametrize(
    "group, code, message",
    [("actor", "restarting", ""), ("actor", "restarting", "whatever")]
    + [("guard", code, "") for code in GUARD_RETRY]
    + [
        ("actor", "internal_error", "Actor is stopping"),
        ("actor", "stopping", "Actor stopping: Cannot accept new connections while actor is stopping"),
        ("client", "transport", "Actor abc-123 stopped"),
        ("", "", "Actor X9 stopped"),
    ],
)
def test_lifecycle_retry(group, code, message):
    assert is_lifecycle_retry(group, code, message)


@pytest.mark.parametrize(
    "group, code, message",
    [
        ("actor", "stopping", ""),  # plain actor.stopping is not in the list
        ("actor", "stopping", "Actor stopping: database accessed after actor stopped"),
        ("actor", "internal_error", "Actor is stopping!"),
        ("actor", "internal_error", ""),
        ("actor", "not_found", ""),
        ("guard", "actor_ready_timeout", ""),
        ("guard", "no_route", ""),
        ("user", "restarting", ""),
        ("client", "transport", "Actor abc stopped."),
        ("client", "transport", "Actor a b stopped"),
        ("client", "transport", "Actor  stopped"),
        ("client", "transport", "xActor abc stopped"),
        ("actor", "no_runner_config_configured", ""),  # §10: never retried by the JS client
    ],
)
def test_not_lifecycle_retry(group, code, message):
    assert not is_lifecycle_retry(group, code, message)


def test_message_defaults_to_empty():
    assert is_lifecycle_retry("actor", "restarting")
    assert not is_lifecycle_retry("actor", "internal_error")


# --------------------------------------------------------------------------- other classes


@pytest.mark.parametrize(
    "code", ["not_found", "starting", "stopping", "not_configured", "dropped_reply", "destroying",
             "destroyed_while_waiting_for_ready", "destroyed_during_creation"],
)
def test_stale_actor(code):
    assert is_stale_actor("actor", code)


@pytest.mark.parametrize(
    "group, code", [("actor", "restarting"), ("actor", "action_not_found"), ("guard", "not_found"),
                    ("actor", "destroyed"), ("user", "not_found")],
)
def test_not_stale_actor(group, code):
    assert not is_stale_actor(group, code)


def test_scheduling_error():
    assert is_scheduling_error("guard", "actor_ready_timeout")
    assert is_scheduling_error("guard", "actor_runner_failed")
    assert not is_scheduling_error("actor", "actor_ready_timeout")
    assert not is_scheduling_error("guard", "service_unavailable")


def test_reconnect_signal():
    assert is_reconnect_signal("actor", "stopped")
    assert is_reconnect_signal("ws", "going_away")
    assert is_reconnect_signal("ws", "anything")
    assert not is_reconnect_signal("actor", "stopping")
    assert not is_reconnect_signal("user", "stopped")


@pytest.mark.parametrize(
    "group, code",
    [("user", "forbidden"), ("user", "my_code"), ("namespace", "not_found"), ("auth", "x"),
     ("actor", "action_not_found"), ("actor", "duplicate_key"), ("actor", "no_runner_config_configured"),
     ("actor", "invalid_request"), ("guard", "query_invalid_params"), ("guard", "query_missing_pool"),
     ("guard", "missing_header"), ("guard", "no_route"), ("datacenter", "not_found"),
     ("client", "connection_rejected"), ("anything", "unauthorized"), ("x", "invalid_token"),
     ("x", "token_invalid"), ("guard", "forbidden")],
)
def test_fatal_connect_errors(group, code):
    assert is_fatal_connect_error(group, code)


@pytest.mark.parametrize(
    "group, code",
    [("actor", "not_found"), ("actor", "stopped"), ("actor", "restarting"), ("ws", "going_away"),
     ("guard", "service_unavailable"), ("guard", "actor_ready_timeout"),
     ("client", "get_params_failed"), ("rivetkit", "internal_error"), ("core", "internal_error"),
     ("client", "connection_open_failed")],
)
def test_retryable_connect_errors(group, code):
    assert not is_fatal_connect_error(group, code)


# --------------------------------------------------------------------------- close reasons (§4)


@pytest.mark.parametrize(
    "reason, parsed",
    [
        ("actor.not_found#5rvx1nkiqtwp6c2yyn39m9w2y8dl00",
         CloseReason("actor", "not_found", "5rvx1nkiqtwp6c2yyn39m9w2y8dl00")),
        ("guard.missing_header#abc", CloseReason("guard", "missing_header", "abc")),
        ("user.forbidden", CloseReason("user", "forbidden", None)),
        ("a.b#", CloseReason("a", "b", None)),
        ("ws.going_away", CloseReason("ws", "going_away", None)),
    ],
)
def test_parse_close_reason(reason, parsed):
    assert parse_close_reason(reason) == parsed


@pytest.mark.parametrize(
    "reason",
    ["", "kicked", "Disposed", "send failed", ".", "a.", ".b", "a.b.c", "a b.c", "a.b c",
     "#a.b", "Connection closed: a.b"],
)
def test_unstructured_close_reasons(reason):
    assert parse_close_reason(reason) is None


# --------------------------------------------------------------------------- backoff (§5)


def test_backoff_without_jitter_is_the_js_sequence():
    # p-retry minTimeout 250 ms, factor 2, maxTimeout 30 s
    b = Backoff(jitter=False)
    delays = [b.next_delay() for _ in range(10)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_step_and_reset():
    b = Backoff(1.0, 10.0, 3.0, jitter=False)
    assert b.step() == 1.0 and b.attempt == 0
    assert [b.next_delay() for _ in range(4)] == [1.0, 3.0, 9.0, 10.0]
    assert b.attempt == 4
    b.reset()
    assert b.attempt == 0 and b.next_delay() == 1.0


def test_backoff_jitter_stays_in_the_upper_half_of_the_step():
    b = Backoff(rng=random.Random(1234))
    for _ in range(40):
        step = b.step()
        delay = b.next_delay()
        assert step / 2 <= delay <= step <= 30.0


def test_backoff_jitter_is_seedable_and_varies():
    a = [d for d, _ in zip(Backoff(rng=random.Random(7)), range(8))]
    b = [d for d, _ in zip(Backoff(rng=random.Random(7)), range(8))]
    assert a == b
    firsts = {Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(firsts) > 1


def test_backoff_factor_one_is_constant():
    b = Backoff(0.1, 0.1, 1.0, jitter=False)
    assert [b.next_delay() for _ in range(3)] == [0.1, 0.1, 0.1]


@pytest.mark.parametrize(
    "args", [(0, 1, 2), (-1, 1, 2), (2, 1, 2), (1, 2, 0.5)],
)
def test_backoff_rejects_bad_parameters(args):
    with pytest.raises(ValueError):
        Backoff(*args)


def test_backoff_survives_a_long_outage():
    b = Backoff(jitter=False)
    delays = [b.next_delay() for _ in range(1100)]
    assert delays[-1] == 30.0


def test_backoff_with_int_factor_survives_a_long_outage():
    b = Backoff(0.25, 30, 2, jitter=False)
    b.attempt = 1100
    assert b.step() == 30

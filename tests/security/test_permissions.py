"""Reading ACL denials (pure): the command, the key and the role, in every form Redis words
them (7.0 top level, 7.2+ top level, inside a Function or script, inside a pipeline)."""

from __future__ import annotations

import redis

from ingest.connection import CheckedRedis
from ingest.errors import ConfigError
from ingest.permissions import PermissionDenied, denial, is_denial, roles_granting, stream_of


def test_a_refused_command_names_it_and_the_role_that_grants_it():
    exc = redis.exceptions.NoPermissionError(
        "this user has no permissions to run the 'xadd' command"
    )

    found = denial(exc, ("XADD", "ingest:events", "*", "f", "secret-value"), "ingest-worker")

    assert isinstance(found, PermissionDenied)
    assert isinstance(found, ConfigError)
    assert isinstance(found, redis.ResponseError)
    assert (found.command, found.keys, found.roles) == ("xadd", ("ingest:events",),
                                                        ["producer", "operator"])  # fmt: skip
    assert "may not run XADD on key 'ingest:events'" in str(found)
    assert "secret-value" not in str(found)


def test_a_refused_key_in_redis_7_2_wording_names_the_key():
    exc = redis.exceptions.NoPermissionError(
        "User ingest-worker has no permissions to access the '{ingest:events}:config' key"
    )

    found = denial(exc, ("HSET", "{ingest:events}:config", "a", "1"), "ingest-worker")

    assert found is not None
    assert found.keys == ("{ingest:events}:config",)
    assert found.roles == ["producer"]
    assert "access to that key" in str(found)


def test_a_refusal_inside_the_admission_function_is_read_from_the_library_line():
    from ingest.library import LIBRARY_CODE

    line = next(
        number
        for number, text in enumerate(LIBRARY_CODE.splitlines(), start=1)
        if "redis.call('XADD'" in text
    )
    exc = redis.ResponseError(
        "The user executing the script can't run this command or subcommand script: "
        f"ingest_admit, on @user_function:{line}."
    )

    found = denial(exc, ("FCALL", "ingest_admit", "1", "ingest:events", "2"), "p")

    assert found is not None
    assert found.command == "xadd"
    assert "inside the Function ingest_admit" in str(found)


def test_a_refusal_in_a_pipeline_names_the_command_from_the_annotation():
    exc = redis.exceptions.NoPermissionError(
        "Command # 2 (HINCRBY {ingest:events}:attempts:workers 0-1 1) of pipeline caused "
        "error: NOPERM this user has no permissions to access one of the keys used as arguments"
    )

    found = denial(exc, (), "u")

    assert found is not None
    assert found.command == "hincrby"
    assert found.keys == ("{ingest:events}:attempts:workers",)


def test_other_errors_are_not_denials():
    assert not is_denial(redis.ResponseError("NOGROUP No such key"))
    assert denial(redis.ResponseError("WRONGTYPE Operation against a key"), ("GET", "k")) is None


def test_keys_map_back_to_their_stream():
    assert stream_of("{ingest:events}:dead") == "ingest:events"
    assert stream_of("{orders}:events:attempts:g") == "{orders}:events"
    assert stream_of("ingest:events") == "ingest:events"
    assert roles_granting("del", "{ingest:events}:dead") == ["operator"]


def test_the_client_raises_permission_denied_in_place_of_noperm(redis_url):
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "t-denied", "reset", "on", ">pw", "+ping", "~x")  # type: ignore[no-untyped-call]
    url = redis_url.replace("redis://", "redis://t-denied:pw@")
    client = CheckedRedis.from_url(url, decode_responses=True)
    try:
        assert client.ping()
        try:
            client.set("x", "1")
        except PermissionDenied as exc:
            assert exc.user == "t-denied"
            assert exc.command == "set"
        else:
            raise AssertionError("SET was allowed")
        pipe = client.pipeline(transaction=False)
        pipe.get("x")
        try:
            pipe.execute()
        except PermissionDenied as exc:
            assert exc.command == "get"
        else:
            raise AssertionError("GET was allowed")
    finally:
        client.close()
        admin.execute_command("ACL", "DELUSER", "t-denied")  # type: ignore[no-untyped-call]
        admin.close()

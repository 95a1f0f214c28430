"""The four Redis ACL roles of a stream: what each may run, and what its CLIs issue (data).

Four roles, each the commands one group of CLIs issues, on the keys of one stream (all in the
stream's hash slot, see :mod:`ingest.keys`):

* ``producer``: ``python -m ingest.produce``.
* ``worker``: ``python -m workers`` (one consumer group).
* ``observer``: ``python -m ingest.stats``, metrics readers (e.g. KEDA's scaler),
  ``python -m workers.dlq list|show``, the dashboard (``python -m workers.web``) read-only;
  reads only.
* ``operator``: ``python -m workers.dlq replay|purge``, loading the ``ingest`` Functions
  library (``python -m ingest.admission load``), and the dashboard with its actions (replay,
  purge, pause and resume a group).

A role is a list of :class:`Grant` (commands on keys): the first is the user's root
permissions, the rest Redis 7 selectors, so a command is allowed only on the keys it needs
(a worker may ``SET`` its liveness keys but not the stream). Commands a Lua script or Function
runs are checked against the caller's ACL too, so a role also holds the commands its Functions
run (the producer's ``ingest_admit`` does ``XADD`` and ``XTRIM``); :data:`CAN_STILL` says in
plain words what that leaves each role able to do.

:data:`USES` lists, per role, every command its CLIs issue (with example arguments, keys as
``$stream``, ``$dead``, ``$config``, ``$attempts``, ``$alive``, ``$producer``, ``$paused``,
``$workerinfo``); :data:`DENIED`
the commands a role must not run. The tests check both on a real server with ``ACL DRYRUN``;
extend :data:`USES` with any command a CLI starts to issue.

:mod:`ingest.acl` renders the rules for a stream (``python -m ingest.acl``).

Source: https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/ (rules,
selectors, ``%R~``/``%W~`` key permissions, scripts checked per command).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingest.keys import StreamKeys
from ingest.pause import pause_key
from ingest.workerinfo import worker_info_key

ROLES = ("producer", "worker", "observer", "operator")


@dataclass(frozen=True, slots=True)
class Grant:
    """Commands allowed on keys: the root permissions of a user, or one selector.

    Attributes:
        commands: ACL command names (``xadd``, ``xinfo|groups``).
        keys: ``(access, kind)`` pairs; access ``RW``, ``R`` or ``W`` (Redis' ``~``,
            ``%R~``, ``%W~``), kind one of ``stream``, ``dead``, ``config``, ``attempts``,
            ``producer``, ``alive``, ``paused`` (the group's pause flag, :mod:`ingest.pause`),
            ``workerinfo`` (the group's consumers' published hashes, :mod:`ingest.workerinfo`).
    """

    commands: tuple[str, ...]
    keys: tuple[tuple[str, str], ...] = ()


_CONNECT = ("ping", "select")  # the start-up check; SELECT for a URL with a database index
_ADMIT = ("fcall", "fcall_ro", "xlen", "exists", "xinfo|groups", "xpending", "xrange",
          "xrevrange", "xtrim", "xadd")  # fmt: skip
_READ_STREAM = ("time", "type", "exists", "xlen", "xrange", "xrevrange", "xpending",
                "xinfo|stream", "xinfo|groups", "xinfo|consumers")  # fmt: skip

GRANTS: Mapping[str, tuple[Grant, ...]] = {
    "producer": (
        # WAIT: durable produce (--min-replicas). WAITAOF is not granted: Redis before 7.2
        # refuses an ACL rule naming it; add +waitaof on Redis >= 7.2 / Valkey for the
        # primary's AOF fsync check (without it the producer waits for replicas only).
        Grant((*_CONNECT, *_ADMIT, "wait"), (("RW", "stream"),)),
        Grant(("hset",), (("W", "config"),)),
        # ingest_admit remembers each producer's last batch (idempotent re-sends): the FCALL
        # names that key too, and one selector must allow the command on all its keys.
        # PEXPIRE: durable produce covers a re-sent batch found already in with a write on
        # its connection (ingest.durable).
        Grant(("get", "set", "pexpire"), (("RW", "producer"),)),
        Grant(("fcall", "fcall_ro"), (("RW", "stream"), ("RW", "producer"))),
    ),
    "worker": (
        Grant(
            (
                *_CONNECT,
                *_READ_STREAM,
                "multi",
                "exec",
                "discard",
                "xgroup|create",
                "xgroup|delconsumer",
                "xreadgroup",
                "xack",
                "xclaim",
                "xautoclaim",
            ),
            (("RW", "stream"), ("R", "dead")),
        ),
        Grant(("xadd",), (("W", "dead"),)),
        Grant(("hincrby", "hdel", "hmget"), (("RW", "attempts"),)),
        Grant(("set", "get", "del", "exists"), (("RW", "alive"),)),
        # The pause flag it polls, and the hash it publishes its handler, host and PID in.
        Grant(("get",), (("R", "paused"),)),
        Grant(("hset", "expire", "pexpire", "del"), (("RW", "workerinfo"),)),
        # The worker's Lua scripts (and Functions, once its steps move into the library): a
        # script's keys must all match one selector; each command it runs is checked above.
        Grant(
            ("eval", "evalsha", "script|load", "script|exists", "fcall", "fcall_ro"),
            (("RW", "stream"), ("RW", "dead"), ("RW", "attempts"), ("RW", "alive")),
        ),
    ),
    "observer": (
        Grant(
            (*_CONNECT, *_READ_STREAM, "hgetall"), (("R", "stream"), ("R", "dead"), ("R", "config"))
        ),
        # ingest.stats shows each consumer as live or dead from its liveness key; the
        # dashboard also shows whether the group is paused and what each worker published.
        Grant(("get",), (("R", "alive"), ("R", "paused"))),
        Grant(("hgetall",), (("R", "workerinfo"),)),
    ),
    "operator": (
        Grant((*_CONNECT, *_READ_STREAM, *_ADMIT, "function|load"), (("RW", "stream"),)),
        Grant(("xrange", "xrevrange", "xlen", "xinfo|stream", "xdel", "del"), (("RW", "dead"),)),
        Grant(("hgetall",), (("R", "config"),)),
        Grant(("get", "set"), (("RW", "producer"),)),
        Grant(("fcall", "fcall_ro"), (("RW", "stream"), ("RW", "producer"))),
        # The dashboard: what the observer reads, and pausing and resuming the group.
        Grant(("get",), (("R", "alive"),)),
        Grant(("hgetall",), (("R", "workerinfo"),)),
        Grant(("get", "set", "del"), (("RW", "paused"),)),
    ),
}
"""Each role's root permissions (first) and selectors."""

CAN_STILL: Mapping[str, tuple[str, ...]] = {
    "producer": (
        "XADD to its stream directly, past the cap and the high-water mark (admission is a "
        "Function it calls, and ACLs cannot force callers through it)",
        "XTRIM its stream, including entries no group has acknowledged (the Function trims)",
        "read the stream and its groups' state (XRANGE, XINFO, XPENDING)",
        "call any loaded Function with its stream as key (each command inside is checked)",
        "overwrite the stream's settings record ({stream}:config) that stats shows",
    ),
    "worker": (
        "XACK, XCLAIM and XAUTOCLAIM any entry of ANY consumer group of its stream (ACLs "
        "cannot tell groups apart: group names are arguments, not keys)",
        "XGROUP CREATE a group and XGROUP DELCONSUMER any consumer, which drops that "
        "consumer's pending entries from the PEL",
        "XADD to the dead-letter stream, and trim it through XADD's MAXLEN/MINID arguments",
        "read the stream and the dead-letter stream",
        "run Lua scripts (EVAL) on its keys: each command inside is checked, but a script "
        "can keep the server busy until it is killed; dropped once the worker's steps are "
        "Functions",
    ),
    "observer": (
        "read every entry of the stream and of the dead-letter stream (event payloads "
        "included), the consumer names and their liveness keys (host and PID of each worker), "
        "the group's pause flag and what each worker publishes about itself (handler, host)",
    ),
    "operator": (
        "FUNCTION LOAD REPLACE any library, whose code then runs with the rights of each "
        "caller (the producer, replays)",
        "delete dead letters (XDEL, DEL) and XADD/XTRIM the stream like a producer",
        "pause the group's consumption for as long as it likes (SET/DEL of the pause flag)",
        "read everything the observer reads",
    ),
}
"""What each role's rules still allow beyond its CLIs' needs, for the README and the output."""

NEEDED_BY: Mapping[str, str] = {
    "producer": "python -m ingest.produce",
    "worker": "python -m workers",
    "observer": "python -m ingest.stats, metrics readers, python -m workers.dlq list|show, "
    "python -m workers.web (read-only)",
    "operator": "python -m workers.dlq replay|purge, python -m ingest.admission load, "
    "python -m workers.web (replay, purge, pause)",
}


@dataclass(frozen=True, slots=True)
class Use:
    """One command a CLI issues, with example arguments (placeholders for keys).

    Attributes:
        argv: the command and arguments; ``$stream``, ``$dead``, ``$config``, ``$attempts``,
            ``$alive``, ``$producer``, ``$paused``, ``$workerinfo`` stand for the stream's keys
            (:meth:`concrete` fills them in).
        by: who issues it (for messages and the tests' failure output).
    """

    argv: tuple[str, ...]
    by: str

    def concrete(self, stream: str, group: str, consumer: str = "c1") -> list[str]:
        """``argv`` with the placeholders replaced by the keys of ``stream`` and ``group``."""
        keys = StreamKeys(stream)
        names = {
            "$stream": keys.stream,
            "$dead": keys.dead_letter_stream,
            "$config": keys.config,
            "$attempts": keys.attempts(group),
            "$alive": keys.consumer_alive(group, consumer),
            "$producer": keys.producer("p1"),
            "$paused": pause_key(stream, group),
            "$workerinfo": worker_info_key(stream, group, consumer),
            "$group": group,
        }
        return [names.get(arg, arg) for arg in self.argv]


def _uses(by: str, *commands: str) -> tuple[Use, ...]:
    return tuple(Use(tuple(command.split()), by) for command in commands)


_SCRIPT = "return(1)"  # one token: the examples are split on spaces
_ADMIT_USES = (
    *_uses("ingest_admit (library check)", "FCALL_RO ingest_version 0"),
    *_uses("ingest_admit", "FCALL ingest_admit 1 $stream"),
    *_uses(
        "inside ingest_admit",
        "XLEN $stream", "EXISTS $stream", "XINFO GROUPS $stream", "XPENDING $stream $group",
        "XRANGE $stream - + COUNT 1", "XTRIM $stream MAXLEN 10", "XTRIM $stream MINID ~ 0-1",
        "XADD $stream * f v", "XREVRANGE $stream + - COUNT 1",
        "GET $producer", "SET $producer v PX 600000",
    ),
)  # fmt: skip

_DASHBOARD_READS = (
    *_uses(
        "dashboard (python -m workers.web)",
        "TIME", "TYPE $stream", "XLEN $dead", "XINFO STREAM $stream", "XINFO GROUPS $stream",
        "XINFO CONSUMERS $stream $group", "XPENDING $stream $group",
        "XPENDING $stream $group - + 100 c1", "XPENDING $stream $group 0-1 0-1 1",
        "XRANGE $stream 0-1 0-1", "XREVRANGE $stream + - COUNT 1000",
        "XRANGE $stream (0-1 + COUNT 100", "XREVRANGE $dead (2-0 - COUNT 1000",
        "XRANGE $dead 0-1 0-1", "HGETALL $config", "GET $alive", "GET $paused",
        "HGETALL $workerinfo",
    ),
)  # fmt: skip

USES: Mapping[str, tuple[Use, ...]] = {
    "producer": (
        *_uses("start-up check", "PING"),
        *_ADMIT_USES,
        *_uses("recording its settings for stats", "HSET $config maxlen 1"),
        *_uses("durable produce (--min-replicas)", "WAIT 1 1", "PEXPIRE $producer 600000"),
    ),
    "worker": (
        *_uses("start-up check, /readyz", "PING"),
        *_uses(
            "group and reads",
            "XGROUP CREATE $stream $group 0 MKSTREAM",
            "XREADGROUP GROUP $group c1 COUNT 1 BLOCK 1 STREAMS $stream >",
            "XPENDING $stream $group - + 10 c1",
            "XPENDING $stream $group",
            "XAUTOCLAIM $stream $group c1 0 0-0 COUNT 1",
            "XCLAIM $stream $group c1 0 0-1 JUSTID",
            "XACK $stream $group 0-1",
            "MULTI",
            "EXEC",
            "DISCARD",
            "XINFO GROUPS $stream",
            "XINFO CONSUMERS $stream $group",
            "XINFO STREAM $stream",
            "XREVRANGE $stream + - COUNT 1",
            "XRANGE $stream - + COUNT 1",
        ),
        *_uses("state sampler", "TIME", "TYPE $stream", "XLEN $dead"),
        *_uses(
            "failed attempts",
            "HINCRBY $attempts 0-1 1",
            "HDEL $attempts 0-1",
            "HMGET $attempts 0-1",
        ),
        *_uses("liveness key", "SET $alive c1 NX EX 10", "GET $alive", "DEL $alive"),
        *_uses(
            "Lua scripts",
            f"EVAL {_SCRIPT} 1 $stream",
            f"EVAL {_SCRIPT} 2 $stream $alive",
            f"EVAL {_SCRIPT} 3 $stream $dead $attempts",
            "EVALSHA 0000000000000000000000000000000000000000 3 $stream $dead $attempts",
            f"SCRIPT LOAD {_SCRIPT}",
            "SCRIPT EXISTS 0000000000000000000000000000000000000000",
        ),
        *_uses(
            "inside the scripts",
            "EXISTS $alive",
            "XGROUP DELCONSUMER $stream $group c2",
            "XADD $dead * f v",
        ),
        *_uses(
            "pause flag and published handler (ingest.pause, ingest.workerinfo)",
            "GET $paused",
            "HSET $workerinfo handler h host x pid 1",
            "EXPIRE $workerinfo 10",
            "PEXPIRE $workerinfo 10000",
            "DEL $workerinfo",
        ),
        *_uses(
            "Functions (the worker's steps, once in the library)",
            "FCALL ingest_version 0",
            "FCALL_RO ingest_version 0",
            "FCALL ingest_worker 3 $stream $dead $attempts",
        ),
    ),
    "observer": (
        *_uses("start-up check", "PING"),
        *_uses(
            "ingest.stats and metrics",
            "TIME",
            "TYPE $stream",
            "EXISTS $stream",
            "XLEN $stream",
            "XLEN $dead",
            "XINFO STREAM $stream",
            "XINFO GROUPS $stream",
            "XINFO CONSUMERS $stream $group",
            "XPENDING $stream $group",
            "XRANGE $stream (0-1 + COUNT 10",
            "HGETALL $config",
            "GET $alive",
        ),
        *_uses("dlq list|show", "XREVRANGE $dead + - COUNT 10", "XRANGE $dead 0-1 0-1"),
        *_DASHBOARD_READS,
    ),
    "operator": (
        *_uses("start-up check", "PING"),
        *_uses("loading the library", "FUNCTION LOAD x"),
        *_ADMIT_USES,
        *_uses(
            "dlq",
            "HGETALL $config",
            "XREVRANGE $dead + - COUNT 10",
            "XRANGE $dead 0-1 0-1",
            "XRANGE $dead - (1-0 COUNT 1000",
            "XLEN $dead",
            "XDEL $dead 0-1",
            "DEL $dead",
            "XRANGE $stream 0-1 0-2 COUNT 1",
        ),
        *_DASHBOARD_READS,
        *_uses(
            "dashboard: pause and resume",
            "SET $paused v",
            "SET $paused v PX 60000",
            "DEL $paused",
        ),
    ),
}
"""Every command each role's CLIs issue (see :class:`Use`)."""

_ALWAYS_DENIED = _uses(
    "never needed",
    "FLUSHALL", "FLUSHDB", "KEYS *", "SCAN 0", "CONFIG GET requirepass", "CONFIG SET maxmemory 1",
    "FUNCTION FLUSH", "FUNCTION DELETE ingest", "ACL SETUSER x", "SHUTDOWN", "DEBUG SLEEP 0",
    "MONITOR", "SET other:key x", "XADD other:stream * f v", "DEL $stream", "SET $stream x",
    "HSET $stream f v", "XGROUP DESTROY $stream $group", "XGROUP SETID $stream $group $",
    "XDEL $stream 0-1", "RENAME $stream other", f"EVAL {_SCRIPT} 1 other:key",
)  # fmt: skip

DENIED: Mapping[str, tuple[Use, ...]] = {
    "producer": (
        *_ALWAYS_DENIED,
        *_uses(
            "not the producer's",
            "FUNCTION LOAD x",
            "XACK $stream $group 0-1",
            "XREADGROUP GROUP $group c1 STREAMS $stream >",
            f"EVAL {_SCRIPT} 1 $stream",
            "XADD $dead * f v",
            "DEL $dead",
            "HSET $attempts 0-1 1",
            "SET $alive x",
            "SET $paused x",
            "HSET $workerinfo f v",
        ),
    ),
    "worker": (
        *_ALWAYS_DENIED,
        *_uses(
            "not the worker's",
            "XADD $stream * f v",
            "XTRIM $stream MAXLEN 0",
            "FUNCTION LOAD x",
            "DEL $dead",
            "XDEL $dead 0-1",
            "HSET $config maxlen 1",
            "SET $config x",
            "SET {other}:alive:x x",
            "HINCRBY $stream 0-1 1",
            "SET $paused x",
            "DEL $paused",
        ),
    ),
    "observer": (
        *_ALWAYS_DENIED,
        *_uses(
            "observers only read",
            "XADD $stream * f v",
            "XACK $stream $group 0-1",
            "XGROUP CREATE $stream g2 0",
            "XREADGROUP GROUP $group c1 STREAMS $stream >",
            "XTRIM $stream MAXLEN 0",
            "XDEL $dead 0-1",
            "DEL $dead",
            "HSET $config f v",
            "SET $alive x",
            "HINCRBY $attempts 0-1 1",
            "FCALL ingest_admit 1 $stream",
            "FUNCTION LOAD x",
            f"EVAL {_SCRIPT} 1 $stream",
            "SET $paused x",
            "DEL $paused",
            "HSET $workerinfo f v",
            "DEL $workerinfo",
        ),
    ),
    "operator": (
        *_ALWAYS_DENIED,
        *_uses(
            "not the operator's",
            "XACK $stream $group 0-1",
            "XREADGROUP GROUP $group c1 STREAMS $stream >",
            f"EVAL {_SCRIPT} 1 $stream",
            "HSET $config f v",
            "SET $alive x",
            "HSET $workerinfo f v",
            "DEL $workerinfo",
        ),
    ),
}
"""Commands each role must not be able to run (checked by the tests)."""

TOLERATED: Mapping[str, tuple[Use, ...]] = {
    "producer": _uses(
        "refused by design; the producer warns and goes on",
        "CONFIG GET maxmemory-policy",  # CONFIG GET would also read requirepass
        "FUNCTION LOAD x",  # only when the library is missing: exit 2 naming the operator
    ),
}
"""Commands a CLI tries and copes without (warns or names the operator's command)."""

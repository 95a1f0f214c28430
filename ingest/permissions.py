"""ACL denials as one line naming the missing permission and the role that grants it.

Redis refuses a command the user's ACL does not allow with ``NOPERM ...`` (redis-py's
``NoPermissionError``); a command a Lua script or Function runs is refused with a plain
``ERR The user executing the script can't run this command ...`` (Redis 7.0; later versions
add the command's name). Neither names the key in Redis 7.0, and neither says what to do.
:func:`denial` turns such an error, plus the command the client sent, into a
:class:`PermissionDenied`: ``Redis user 'ingest-observer' may not run XADD on key
'ingest:events' ...: the producer or operator role grants it (python -m ingest.acl ...)``.

:class:`PermissionDenied` is both a :class:`~ingest.errors.ConfigError` (every CLI prints it on
one line and exits 2: retrying cannot help) and a ``NoPermissionError`` (code that copes with
a refused optional command, such as the producer's ``CONFIG GET``, still catches it as a
``ResponseError``). The clients of :mod:`ingest.connection` raise it in place of the original.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

import redis

from ingest.acl_roles import ROLES, USES
from ingest.errors import ConfigError
from ingest.keys import hash_tag
from ingest.library import LIBRARY_CODE

_RUN = re.compile(r"no permissions to run the '([^']+)' command", re.I)
_KEY_NAMED = re.compile(r"no permissions to access the '([^']*)' key", re.I)
_DENIED = re.compile(
    r"NOPERM|can't run this command|can't access at least one of the keys|ACL failure", re.I
)
_KEY_DENIED = re.compile(r"access (?:one of the keys|a key|at least one of the keys|the ')", re.I)
_IN_FUNCTION = re.compile(r"script: (\S+), on @user_function:(\d+)")
_IN_SCRIPT = re.compile(r"on @user_script:\d+")
_PIPELINE = re.compile(r"Command # \d+ \((.*?)\) of pipeline caused error", re.S)
_LUA_CALL = re.compile(r"redis\.p?call\('(\w+)'(?:, '(\w+)')?")
_CONTAINERS = {"xinfo", "xgroup", "function", "script", "config", "client", "acl", "object"}
_KEY_LISTS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
_SUFFIX = re.compile(r":(?:dead|config|attempts:.*|alive:.*|paused:.*|worker:.*)$")
_KINDS = {"dead": "dead", "config": "config", "attempts": "attempts", "alive": "alive",
          "paused": "paused", "worker": "workerinfo"}  # fmt: skip


class PermissionDenied(ConfigError, redis.exceptions.NoPermissionError):
    """Redis' ACL refused a command: a configuration error (CLIs exit 2), never retried.

    Attributes:
        user: the Redis user name (``default`` when the URL names none).
        command: the refused command, lower case, ``container|sub`` for subcommands
            (``xinfo|groups``); ``None`` when Redis did not say and it cannot be inferred.
        keys: the keys it was run on (candidates when Redis did not name one).
        roles: the roles of :mod:`ingest.acl_roles` that grant it (may be empty).
    """

    def __init__(
        self, message: str, *, user: str, command: str | None, keys: Sequence[str], roles: list[str]
    ) -> None:
        super().__init__(message)
        self.user = user
        self.command = command
        self.keys = tuple(keys)
        self.roles = roles


def is_denial(exc: BaseException) -> bool:
    """Whether ``exc`` is an ACL refusal (top level, or of a command inside a script)."""
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return True
    return isinstance(exc, redis.ResponseError) and bool(_DENIED.search(str(exc)))


def _command_and_keys(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    tokens = [t for a in argv[:1] for t in str(a).split()] + [str(a) for a in argv[1:]]
    if not tokens:
        return None, []
    name, rest = tokens[0].lower(), tokens[1:]
    if name in _CONTAINERS and rest:
        name, rest = f"{name}|{rest[0].lower()}", rest[1:]
    base = name.split("|")[0]
    if base in _KEY_LISTS and len(rest) >= 2 and rest[1].isdigit():
        return name, rest[2 : 2 + int(rest[1])]
    if base == "xreadgroup" and any(t.upper() == "STREAMS" for t in rest):
        after = rest[[t.upper() for t in rest].index("STREAMS") + 1 :]
        return name, after[: len(after) // 2]
    if base in {"ping", "multi", "exec", "discard", "time", "select"}:
        return name, []
    if base in _CONTAINERS:
        return name, rest[:1] if base in {"xinfo", "xgroup"} else []
    return name, rest[:1]


def _inner_command(text: str) -> tuple[str | None, str]:
    """The command a script or Function ran when it was refused, and where it ran."""
    function = _IN_FUNCTION.search(text)
    if function:
        lines = LIBRARY_CODE.splitlines()
        line = int(function.group(2))
        call = _LUA_CALL.search(lines[line - 1]) if 0 < line <= len(lines) else None
        where = f"inside the Function {function.group(1)}"
        if call is None:
            return None, where
        name = call.group(1).lower()
        sub = call.group(2)
        return (f"{name}|{sub.lower()}" if name in _CONTAINERS and sub else name), where
    return None, "inside a Lua script" if _IN_SCRIPT.search(text) else "inside a script"


def _key_kind(key: str) -> str:
    for suffix, kind in _KINDS.items():
        if key.endswith(f":{suffix}") or f":{suffix}:" in key:
            return kind
    return "stream"


def stream_of(key: str) -> str:
    """The stream a key of :class:`~ingest.keys.StreamKeys` belongs to (itself for a stream)."""
    base = _SUFFIX.sub("", key) if _key_kind(key) != "stream" else key
    tag = hash_tag(base)
    return tag if tag is not None and base == f"{{{tag}}}" else base


def roles_granting(command: str | None, key: str | None = None) -> list[str]:
    """The roles whose CLIs issue ``command`` (on a key of ``key``'s kind), in role order."""
    if command is None:
        return []
    kind = None if key is None else "$" + _key_kind(key)
    found = []
    for role in ROLES:
        for use in USES[role]:
            name, _ = _command_and_keys(use.argv)
            if name == command and (kind is None or kind in use.argv or len(use.argv) == 1):
                found.append(role)
                break
    return found


def denial(exc: BaseException, argv: Sequence[object] = (), user: str = "default") -> (
    PermissionDenied | None
):  # fmt: skip
    """The :class:`PermissionDenied` that ``exc`` means, or ``None`` when it is no ACL denial.

    Args:
        exc: the error reply (from a command, a pipeline or a script).
        argv: the command the client sent (names only its command and keys in the message,
            never values); empty when unknown.
        user: the Redis user the connection authenticated as.
    """
    if not is_denial(exc):
        return None
    text = str(exc)
    sent = [str(a) for a in argv]
    annotated = _PIPELINE.search(text)
    if annotated and not sent:
        sent = annotated.group(1).split()
    command, keys = _command_and_keys(sent)
    where = ""
    if _IN_FUNCTION.search(text) or _IN_SCRIPT.search(text) or "script" in text.lower():
        command, where = _inner_command(text)
    run = _RUN.search(text)
    if run:
        command = run.group(1).lower()
    named = _KEY_NAMED.search(text)
    if named:
        keys = [named.group(1)]
    key_denied = bool(named or _KEY_DENIED.search(text))
    return PermissionDenied(
        _message(user, command, keys, key_denied, where),
        user=user,
        command=command,
        keys=keys,
        roles=roles_granting(command, keys[0] if keys else None),
    )


CLI_ROLES = {
    "ingest.produce": "producer",
    "ingest-produce": "producer",
    "workers": "worker",
    "workers.__main__": "worker",
    "ingest-worker": "worker",
    "ingest.stats": "observer",
    "ingest-stats": "observer",
    "ingest.admission": "operator",
}
"""The role each CLI runs as (``workers.dlq`` depends on its command, see :func:`cli_role`)."""


def cli_role(argv: Sequence[str] | None = None) -> tuple[str, str] | None:
    """``(command line, role)`` of the CLI this process runs, from ``__main__`` and
    ``sys.argv``; ``None`` when it is not one of ours (a library user, a test)."""
    argv = sys.argv if argv is None else argv
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name if spec is not None else os.path.basename(argv[0] if argv else "")
    name = name.removesuffix(".__main__") if name == "workers.__main__" else name
    if name == "workers.dlq":
        readonly = any(a in {"list", "show"} for a in argv[1:])
        return "python -m workers.dlq", "observer" if readonly else "operator"
    role = CLI_ROLES.get(name)
    if role is None:
        return None
    shown = f"python -m {name}" if "." in name or name == "workers" else name
    return shown, role


def _stream_hint(keys: Sequence[str]) -> str:
    if keys:
        return stream_of(keys[0])
    argv = sys.argv
    if "--stream" in argv[:-1]:
        return argv[argv.index("--stream") + 1]
    return os.environ.get("INGEST_STREAM", "ingest:events")


def _message(user: str, command: str | None, keys: list[str], key_denied: bool, where: str) -> str:
    what = (command or "a command").upper()
    on = ""
    if keys:
        shown = " or ".join(repr(k) for k in keys[:4])
        on = f" on key {shown}" if len(keys) == 1 else f" on one of the keys {shown}"
    lacks = "access to that key" if key_denied else f"the command {what}"
    context = f" ({where})" if where else ""
    roles = roles_granting(command, keys[0] if keys else None)
    stream = _stream_hint(keys)
    running = cli_role()
    if running is not None and running[1] in roles:
        advice = f"{running[0]} runs as the {running[1]} role"
        role: str | None = running[1]
    elif roles:
        advice, role = f"the {' or '.join(roles)} role grants it", roles[0]
    else:
        advice, role = "no role of this project grants it, by design", None
    rules = f" --role {role} prints its rules" if role else " prints each role's rules"
    return (
        f"Redis user {user!r} may not run {what}{on}{context} (ACL NOPERM: it lacks {lacks}); "
        f"{advice}: python -m ingest.acl --stream {stream}{rules}"
    )

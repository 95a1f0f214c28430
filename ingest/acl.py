"""``python -m ingest.acl``: print least-privilege Redis ACL users for one stream.

Usage::

    python -m ingest.acl --stream ingest:events [--group workers] [--user-prefix ingest-]
                         [--role producer ...] [--format acl-file|setuser]

Prints one line per role (:mod:`ingest.acl_roles`: ``producer``, ``worker``, ``observer``,
``operator``) on stdout: ``user NAME ...`` lines for a ``users.acl`` file (the default), or
``ACL SETUSER NAME ...`` lines to paste into ``redis-cli``. What each role is for and what it
can still do go to stderr as ``#`` lines (a ``users.acl`` file may not hold comments).

The users get no password: add one per line, as ``#<sha256 hex of the password>`` in
``users.acl`` (``printf %s "$PW" | sha256sum``) or ``>PASSWORD`` at the end of ``ACL
SETUSER``. A user without one cannot log in. ``ACL SETUSER`` lines start with ``resetkeys
resetchannels clearselectors -@all``, so pasting them again replaces the permissions and keeps
the passwords.

Key patterns are the stream's keys (:class:`ingest.keys.StreamKeys`) with the glob characters
``* ? [ ] \\`` escaped; the worker's keys are those of ``--group``. Exit codes: 0 printed,
2 usage error (a name holding white space, quotes or parentheses cannot be written as a rule).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from ingest.acl_roles import CAN_STILL, GRANTS, NEEDED_BY, ROLES, Grant
from ingest.errors import ConfigError
from ingest.keys import StreamKeys
from ingest.pause import pause_key
from ingest.workerinfo import worker_info_key

FORMATS = ("acl-file", "setuser")
_ACCESS = {"RW": "~", "R": "%R~", "W": "%W~"}
_GLOB = "\\*?[]"
_UNWRITABLE = set(" \t\r\n\"'()")


def escape_glob(key: str) -> str:
    """``key`` as an ACL key pattern matching only itself (``*?[]\\`` escaped)."""
    return "".join("\\" + ch if ch in _GLOB else ch for ch in key)


def _check_name(what: str, name: str) -> None:
    bad = sorted({ch for ch in name if ch in _UNWRITABLE or not ch.isprintable()})
    if bad:
        raise ConfigError(
            f"{what} {name!r} holds {', '.join(repr(ch) for ch in bad)}, which an ACL rule "
            "cannot hold"
        )


def key_patterns(stream: str, group: str) -> dict[str, str]:
    """``{kind: pattern}`` of the stream's keys (kinds as in :class:`~ingest.acl_roles.Grant`).

    Raises:
        ConfigError: a stream or group name no rule can hold, or an invalid stream name.
    """
    _check_name("stream", stream)
    _check_name("group", group)
    keys = StreamKeys(stream)
    return {
        "stream": escape_glob(keys.stream),
        "dead": escape_glob(keys.dead_letter_stream),
        "config": escape_glob(keys.config),
        "attempts": escape_glob(keys.attempts(group)),
        "alive": escape_glob(keys.consumer_alive(group, "")) + "*",
        "producer": escape_glob(keys.producer("")) + "*",
        "paused": escape_glob(pause_key(stream, group)),
        "workerinfo": escape_glob(worker_info_key(stream, group, "")) + "*",
    }


def grant_rules(grant: Grant, patterns: Mapping[str, str]) -> list[str]:
    """The ACL rules of one grant: its key patterns, then ``+command`` for each command."""
    keys = [_ACCESS[access] + patterns[kind] for access, kind in grant.keys]
    commands = dict.fromkeys(grant.commands)  # once each, in order
    return keys + [f"+{command}" for command in commands]


def role_rules(role: str, stream: str, group: str = "workers") -> list[str]:
    """The rules of ``role`` for ``stream`` (and ``group``), without a user name or password:
    ``on resetkeys resetchannels clearselectors -@all`` and the root grant, then each selector
    as one ``(...)`` item.

    Raises:
        KeyError: an unknown role. ConfigError: see :func:`key_patterns`.
    """
    patterns = key_patterns(stream, group)
    root, *selectors = GRANTS[role]
    rules = ["on", "resetkeys", "resetchannels", "clearselectors", "-@all"]
    rules += grant_rules(root, patterns)
    rules += ["(" + " ".join(grant_rules(s, patterns)) + ")" for s in selectors]
    return rules


def render(
    roles: Sequence[str], stream: str, group: str, prefix: str, fmt: str = "acl-file"
) -> list[str]:
    """One line per role: ``user <prefix><role> <rules>`` or ``ACL SETUSER ...``."""
    _check_name("user prefix", prefix)
    head = "user" if fmt == "acl-file" else "ACL SETUSER"
    return [f"{head} {prefix}{role} {' '.join(role_rules(role, stream, group))}" for role in roles]


def explain(roles: Sequence[str], stream: str, group: str, prefix: str) -> list[str]:
    """The ``#`` lines shown on stderr: what each role is for and what it can still do."""
    lines = [
        f"# Redis ACL users for stream {stream!r} (consumer group {group!r}).",
        "# No passwords: add '#<sha256 hex of the password>' to each users.acl line, or",
        "# '>PASSWORD' after ACL SETUSER; a user without one cannot log in.",
    ]
    for role in roles:
        lines.append(f"# {prefix}{role}: for {NEEDED_BY[role]}; it can still:")
        lines += [f"#   - {item}" for item in CAN_STILL[role]]
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.acl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stream", default="ingest:events", help="stream key")
    parser.add_argument("--group", default="workers", help="the worker's consumer group")
    parser.add_argument("--user-prefix", default="ingest-", help="user names are PREFIX+role")
    parser.add_argument(
        "--role", action="append", choices=ROLES, help="only this role (repeatable)"
    )
    parser.add_argument("--format", choices=FORMATS, default="acl-file", help="output form")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the users (stdout) and what they may do (stderr); returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    roles = args.role or list(ROLES)
    try:
        lines = render(roles, args.stream, args.group, args.user_prefix, args.format)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(explain(roles, args.stream, args.group, args.user_prefix)), file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

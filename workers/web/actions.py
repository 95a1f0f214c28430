"""The changes (POST only, each behind :meth:`workers.web.security.Access.may_change`):
replay and purge dead letters, pause and resume a group, log in and out.

Purge always asks for a confirmation first (a page saying what would go, with a second form
carrying ``confirm=yes``); so does a replay by filter, which may cover many entries. A replay
of entries picked one by one runs at once. Redis refusing a command (a user without the
operator role) gives a 403 page with the one-line permission message, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ingest.keys import StreamKeys
from ingest.pause import pause_key, pause_value
from workers.web.dashboard import Dashboard, failure, form
from workers.web.deadletters import (
    count_matching,
    parse_filter,
    purge_ids,
    purge_matching,
    replay,
    valid_ids,
)
from workers.web.overview import LogicalStream
from workers.web.security import CSRF_FIELD, SESSION_USER, cross_site, csrf_ok

__all__ = ["ROUTES"]

FILTER_FIELDS = ("reason", "error_type", "event_id", "older_than")
MAX_PAUSE_MINUTES = 7 * 24 * 60


def _dash(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


async def _checked_form(request: Request) -> tuple[dict[str, str], list[str], Response | None]:
    """The form (last value per name), its ``id`` values, and a refusal page when the change
    is not allowed (read-only, not logged in, cross-site, CSRF)."""
    dash = _dash(request)
    pairs = await form(request)
    fields = dict(pairs)
    refusal = dash.access.may_change(request, fields.get(CSRF_FIELD, ""))
    if refusal is not None:
        return fields, [], dash.message(request, refusal.status, "Refused", refusal.reason)
    return fields, [v for k, v in pairs if k == "id"], None


async def _run(request: Request, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a Redis change; a refusal (ACL, unreachable, ...) becomes a page (returned)."""
    dash = _dash(request)
    try:
        return await dash.call(func, *args, **kwargs)
    except Exception as exc:
        known = failure(exc)
        if known is None:
            raise
        return dash.message(request, known[0], "Not done", known[1])


def _scope(dash: Dashboard, fields: dict[str, str]) -> tuple[LogicalStream, str]:
    stream = dash.stream(fields)
    return stream, dash.partition(stream, fields)


async def replay_action(request: Request) -> Response:
    """``POST /dead/replay``: ``scope=selected`` with ``id`` values, or ``scope=filter`` with
    the filter fields (confirmed with ``confirm=yes``); ``include_refused=on`` replays decode
    failures too."""
    dash = _dash(request)
    fields, ids, refused = await _checked_form(request)
    if refused is not None:
        return refused
    stream, partition = _scope(dash, fields)
    where, problem = parse_filter(fields)
    by_filter = fields.get("scope") == "filter"
    if problem or (not by_filter and not valid_ids(ids)):
        return dash.message(
            request, 400, "Nothing replayed", problem or "select dead letters first"
        )
    if by_filter and fields.get("confirm") != "yes":
        return await _confirm(request, "replay", stream, partition, fields, [])
    outcome = await _run(
        request, replay, dash.client, StreamKeys(partition), None if by_filter else valid_ids(ids),
        where, include_refused=fields.get("include_refused") == "on",
        max_block_s=dash.settings.replay_max_block_s, redis_settings=dash.settings.redis,
    )  # fmt: skip
    if isinstance(outcome, Response):
        return outcome
    context = {"stream": stream, "partition": partition, "outcome": outcome}
    return dash.page(request, "replayed.html", context, 200 if not outcome.blocked else 503)


async def purge_action(request: Request) -> Response:
    """``POST /dead/purge``: like replay, always confirmed with ``confirm=yes`` first."""
    dash = _dash(request)
    fields, ids, refused = await _checked_form(request)
    if refused is not None:
        return refused
    stream, partition = _scope(dash, fields)
    where, problem = parse_filter(fields)
    by_filter = fields.get("scope") == "filter"
    chosen = valid_ids(ids)
    if problem or (not by_filter and not chosen):
        return dash.message(request, 400, "Nothing purged", problem or "select dead letters first")
    if fields.get("confirm") != "yes":
        return await _confirm(request, "purge", stream, partition, fields, chosen)
    keys = StreamKeys(partition)
    if by_filter:
        done = await _run(request, purge_matching, dash.client, keys, where)
    else:
        done = await _run(request, purge_ids, dash.client, keys, chosen)
    if isinstance(done, Response):
        return done
    text = f"deleted {done} dead letter{'s' if done != 1 else ''} from {keys.dead_letter_stream}"
    return dash.message(request, 200, "Purged", text)


async def _confirm(
    request: Request,
    action: str,
    stream: LogicalStream,
    partition: str,
    fields: dict[str, str],
    ids: Sequence[str],
) -> Response:
    dash = _dash(request)
    where, _ = parse_filter(fields)
    if ids:
        count: Any = (len(ids), True)
    else:
        count = await _run(request, count_matching, dash.client, StreamKeys(partition), where)
        if isinstance(count, Response):
            return count
    context = {"action": action, "stream": stream, "partition": partition, "ids": list(ids),
               "count": count[0], "exact": count[1], "filter": where.describe(),
               "filter_fields": {k: fields.get(k, "") for k in FILTER_FIELDS},
               "include_refused": fields.get("include_refused") == "on"}  # fmt: skip
    return dash.page(request, "confirm.html", context)


def _back(fields: dict[str, str], default: str) -> str:
    target = fields.get("next", "")
    # Only a path on this dashboard: never an absolute or scheme-relative URL.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _pause(dash: Dashboard, stream: LogicalStream, group: str, value: str, ms: int | None) -> None:
    pipe = dash.client.pipeline(transaction=False)
    for partition in stream.partitions:
        pipe.set(pause_key(partition, group), value, px=ms)
    pipe.execute()


def _resume(dash: Dashboard, stream: LogicalStream, group: str) -> None:
    pipe = dash.client.pipeline(transaction=False)
    for partition in stream.partitions:
        pipe.delete(pause_key(partition, group))
    pipe.execute()


def _minutes(text: str) -> float | None:
    """The ``minutes`` field: blank for no end; raises ``ValueError`` outside (0, 1 week]."""
    if not text.strip():
        return None
    value = float(text)
    if not 0 < value <= MAX_PAUSE_MINUTES:
        raise ValueError(f"minutes must be above 0 and at most {MAX_PAUSE_MINUTES}")
    return value


async def pause_action(request: Request) -> Response:
    """``POST /pause``: ``stream``, ``group``, optional ``minutes`` (the flag's TTL) and
    ``note``; sets the pause flag (:mod:`ingest.pause`) on every partition."""
    dash = _dash(request)
    fields, _, refused = await _checked_form(request)
    if refused is not None:
        return refused
    stream, group = dash.stream(fields), fields.get("group", "")
    try:
        minutes = _minutes(fields.get("minutes", ""))
    except ValueError as exc:
        return dash.message(request, 400, "Not paused", f"minutes: {exc}")
    now = int(time.time() * 1000)
    ms = None if minutes is None else int(minutes * 60_000)
    who = f"web:{dash.access.user(request)}@{request.client.host if request.client else '?'}"
    value = pause_value(who, now, fields.get("note", ""), None if ms is None else now + ms)
    done = await _run(request, _pause, dash, stream, group, value, ms)
    if isinstance(done, Response):
        return done
    return RedirectResponse(_back(fields, "/streams"), status_code=303)


async def resume_action(request: Request) -> Response:
    """``POST /resume``: ``stream``, ``group``; deletes the pause flag on every partition."""
    dash = _dash(request)
    fields, _, refused = await _checked_form(request)
    if refused is not None:
        return refused
    done = await _run(request, _resume, dash, dash.stream(fields), fields.get("group", ""))
    if isinstance(done, Response):
        return done
    return RedirectResponse(_back(fields, "/streams"), status_code=303)


async def login_page(request: Request) -> Response:
    """``GET /login``: the token form (basic auth and read-only mode need none)."""
    dash = _dash(request)
    if dash.settings.credentials is None or dash.settings.credentials.kind != "token":
        return dash.message(request, 404, "No login", "this dashboard has no token to log in with")
    return dash.page(request, "login.html", {"next": _back(dict(request.query_params), "/")})


async def login_action(request: Request) -> Response:
    """``POST /login``: ``token`` (and the CSRF token of the login form): opens the session."""
    dash = _dash(request)
    fields = dict(await form(request))
    cross = cross_site(request)
    if cross or not csrf_ok(request.session, fields.get(CSRF_FIELD)):
        return dash.message(request, 403, "Refused", cross or "reload the login page and retry")
    if not dash.access.check_token(fields.get("token", "")):
        context = {"next": _back(fields, "/"), "error": "wrong token"}
        return dash.page(request, "login.html", context, 401)
    request.session[SESSION_USER] = "operator"
    return RedirectResponse(_back(fields, "/"), status_code=303)


async def logout_action(request: Request) -> Response:
    """``POST /logout``: ends the session (CSRF-checked like every change)."""
    dash = _dash(request)
    fields = dict(await form(request))
    if not csrf_ok(request.session, fields.get(CSRF_FIELD)):
        return dash.message(request, 403, "Refused", "reload the page and retry")
    request.session.clear()
    return RedirectResponse("/", status_code=303)


ROUTES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("/dead/replay", replay_action, ("POST",)),
    ("/dead/purge", purge_action, ("POST",)),
    ("/pause", pause_action, ("POST",)),
    ("/resume", resume_action, ("POST",)),
    ("/login", login_page, ("GET",)),
    ("/login", login_action, ("POST",)),
    ("/logout", logout_action, ("POST",)),
)
"""``(path, handler, methods)`` of the routes that change things (and the login form)."""

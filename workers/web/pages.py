"""The pages (GET only: reading never changes anything).

``/streams``, ``/groups`` have a live part (``/streams/live``, ``/groups/live``) that htmx
reloads every ``--refresh`` seconds; a Redis error there shows in the part itself, so the page
keeps polling and recovers by itself when Redis is back.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ingest.codec import now_ms
from ingest.keys import StreamKeys
from workers.dlq_inspect import select
from workers.dlq_view import FIRST_FIELDS, row
from workers.web.consumers import PENDING_PAGE, read_groups, read_pending
from workers.web.dashboard import Dashboard, failure, params
from workers.web.deadletters import PAGE_ROWS, parse_filter, read_page, valid_ids
from workers.web.history import chart_points
from workers.web.locate import find_event, trace_id
from workers.web.overview import read_stream, summarize

__all__ = ["ROUTES"]


def _dash(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


async def home(request: Request) -> Response:
    """``/``: the streams page."""
    return RedirectResponse("/streams", status_code=303)


async def healthz(request: Request) -> Response:
    """``/healthz``: the dashboard process answers (it does not ask Redis)."""
    return PlainTextResponse("ok\n")


def _summaries(dash: Dashboard) -> list[dict[str, Any]]:
    out = []
    window_ms = int(max(5.0, 3 * dash.settings.refresh_s) * 1000)
    for stream in dash.streams.values():
        states, pauses, configs = read_stream(dash.client, stream)
        summary = summarize(stream, states, pauses, configs)
        dash.history.add(stream.name, summary.sample())
        rates = dash.history.rates(stream.name, window_ms)
        summary = summarize(stream, states, pauses, configs, rates)
        samples = dash.history.samples(stream.name)
        points, top = chart_points(samples, int(dash.settings.history_s * 1000))
        out.append({"s": summary, "points": points, "top": top, "since_ms": samples[0].time_ms})
    return out


async def streams_page(request: Request) -> Response:
    """``/streams``: every stream, its groups, rates, dead letters and backlog chart."""
    return await _live(request, "streams.html", _summaries)


async def streams_live(request: Request) -> Response:
    """``/streams/live``: the live part of ``/streams``."""
    return await _live(request, "_streams.html", _summaries)


async def _live(request: Request, template: str, load: Any, *args: Any) -> Response:
    dash = _dash(request)
    try:
        data = await dash.call(load, dash, *args)
    except Exception as exc:
        known = failure(exc)
        if known is None:
            raise
        return dash.page(request, template, {"data": None, "error": known[1], **_args(args)})
    return dash.page(request, template, {"data": data, "error": None, **_args(args)})


def _args(args: tuple[Any, ...]) -> dict[str, Any]:
    return {"stream": args[0]} if args else {}


def _groups(dash: Dashboard, stream: Any) -> list[dict[str, Any]]:
    return [{"partition": p, "details": read_groups(dash.client, p)[1]} for p in stream.partitions]


async def groups_page(request: Request) -> Response:
    """``/groups?stream=S``: the consumer groups of ``S`` and their consumers."""
    stream = _dash(request).stream(params(request))
    return await _live(request, "groups.html", _groups, stream)


async def groups_live(request: Request) -> Response:
    """``/groups/live?stream=S``: the live part of ``/groups``."""
    stream = _dash(request).stream(params(request))
    return await _live(request, "_groups.html", _groups, stream)


async def pending_page(request: Request) -> Response:
    """``/pending?stream=S&group=G[&consumer=C][&start=ID]``: pending entries, with delivery
    counts and idle times, :data:`~workers.web.consumers.PENDING_PAGE` per page."""
    dash, query = _dash(request), params(request)
    stream = dash.stream(query)
    partition = dash.partition(stream, query)
    group, consumer = query.get("group", ""), query.get("consumer") or None
    start = query.get("start", "")
    start = f"({start}" if valid_ids([start]) else "-"
    rows = await dash.call(read_pending, dash.client, partition, group, consumer, start)
    more = rows[-1].entry_id if len(rows) == PENDING_PAGE else None
    context = {"stream": stream, "partition": partition, "group": group, "consumer": consumer,
               "rows": rows, "more": more}  # fmt: skip
    return dash.page(request, "pending.html", context)


async def dead_page(request: Request) -> Response:
    """``/dead?stream=S[&reason=..][&error_type=..][&event_id=..][&older_than=..][&before=ID]``:
    dead letters, newest first, :data:`~workers.web.deadletters.PAGE_ROWS` per page."""
    dash, query = _dash(request), params(request)
    stream = dash.stream(query)
    partition = dash.partition(stream, query)
    where, problem = parse_filter(query)
    before = query.get("before", "")
    page = None
    if problem is None:
        before_id = before if valid_ids([before]) else None
        page = await dash.call(read_page, dash.client, StreamKeys(partition), where, before_id)
    now = now_ms()
    rows = [] if page is None else [row(i, f, now) for i, f in page.entries]
    context = {"stream": stream, "partition": partition, "params": query, "problem": problem,
               "page": page, "rows": rows, "page_rows": PAGE_ROWS,
               "filtered": not where.empty}  # fmt: skip
    return dash.page(request, "dead.html", context, 400 if problem else 200)


async def dead_entry_page(request: Request) -> Response:
    """``/dead/entry?stream=S&id=ID``: every field of one dead letter, its traceback."""
    dash, query = _dash(request), params(request)
    stream = dash.stream(query)
    partition = dash.partition(stream, query)
    ids = valid_ids([query.get("id", "")])
    if not ids:
        raise HTTPException(404, "not an entry ID")
    try:
        [(entry_id, fields)] = await dash.call(select, dash.client, StreamKeys(partition), ids)
    except KeyError:
        return dash.message(request, 404, "Not found", f"no dead-letter entry {ids[0]} "
                            "(replayed or purged?)")  # fmt: skip
    known = [(k, fields[k]) for k in FIRST_FIELDS if k in fields and k != "dead_traceback"]
    others = [(k, v) for k, v in fields.items() if k not in FIRST_FIELDS]
    context = {"stream": stream, "partition": partition, "entry_id": entry_id,
               "fields": known + others, "traceback": fields.get("dead_traceback"),
               "trace": trace_id(fields.get("traceparent"))}  # fmt: skip
    return dash.page(request, "dead_entry.html", context)


async def find_page(request: Request) -> Response:
    """``/find?stream=S&event_id=E[&below=ID][&dead_below=ID]``: where an event is now."""
    dash, query = _dash(request), params(request)
    stream = dash.stream(query)
    partition = dash.partition(stream, query)
    event_id = query.get("event_id", "")
    finding = None
    if event_id:
        below = _cursor(query.get("below"))
        dead_below = _cursor(query.get("dead_below"))
        finding = await dash.call(find_event, dash.client, partition, event_id,
                                  dash.settings.find_limit, below, dead_below)  # fmt: skip
    context = {"stream": stream, "partition": partition, "event_id": event_id,
               "finding": finding, "trace_id": trace_id}  # fmt: skip
    return dash.page(request, "find.html", context)


def _cursor(value: str | None) -> str | None:
    """``-``: that stream was read whole (skip it); an entry ID: go on below it; else start."""
    if value == "-":
        return ""
    return value if value and valid_ids([value]) else None


ROUTES: tuple[tuple[str, Any], ...] = (
    ("/", home),
    ("/healthz", healthz),
    ("/streams", streams_page),
    ("/streams/live", streams_live),
    ("/groups", groups_page),
    ("/groups/live", groups_live),
    ("/pending", pending_page),
    ("/dead", dead_page),
    ("/dead/entry", dead_entry_page),
    ("/find", find_page),
)
"""``(path, handler)`` of every GET route."""

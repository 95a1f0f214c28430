"""The operator's web dashboard: ``python -m workers.web`` (see :mod:`workers.web.cli`).

Starlette with Jinja2 templates, htmx (vendored in ``static/``) for the live parts, served by
uvicorn. Pages: streams (backlog, lag, pending, rates, dead letters, a backlog chart),
consumer groups and consumers (live or dead, what each holds, handler and host), dead letters
(filters, full fields, traceback, replay, purge), finding an event by its ID, and pausing a
group. Read-only unless a token or basic-auth file is configured (:mod:`workers.web.security`).

Importing :mod:`workers` or running a worker never imports this package: Starlette and Jinja2
are loaded only by the dashboard.
"""

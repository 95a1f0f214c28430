"""``python -m workers.web``: the operator's dashboard (see :mod:`workers.web.cli`)."""

from workers.web.cli import run

run()

"""``python -m workers``: run one worker process."""

from workers.cli import run

run()

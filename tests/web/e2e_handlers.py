"""The handler of the browser test's worker (``--handler tests.web.e2e_handlers:handle``).

It fails the event whose ID is ``$E2E_POISON`` permanently (dead-lettered at once) until the
file ``$E2E_FIXED`` exists, as a deployed fix would; every event it handles is appended to
``$E2E_RECORD``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.codec import Event
from workers.errors import PermanentError


def handle(event: Event) -> None:
    """Fail the poison event until the fix file exists; record every handled event."""
    if event.event_id == os.environ["E2E_POISON"] and not Path(os.environ["E2E_FIXED"]).exists():
        raise PermanentError(f"cannot parse reading of {event.event_id}: <bad> value")
    with open(os.environ["E2E_RECORD"], "a") as out:
        out.write(event.event_id + "\n")

"""Fault injection for tests and benchmarks (not shipped in the wheel).

:class:`~faults.proxy.FaultProxy` is a TCP proxy on 127.0.0.1 between clients and one
target on loopback (a redis-server), whose behaviour is switched at run time: added latency,
connection resets, a blackhole, a half-open direction, refused connections, and replies
dropped after the request reached the server. :class:`~faults.mode.Mode` describes the
standing faults.
"""

from faults.mode import Direction, Mode
from faults.proxy import FaultProxy, ProxyStats

__all__ = ["Direction", "FaultProxy", "Mode", "ProxyStats"]

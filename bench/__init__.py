"""``python -m bench``: end-to-end throughput, latency and memory of the pipeline.

Every scenario runs in one invocation against a private ``redis-server`` the harness starts
itself, so the ratios to the ``floor`` scenario (a hand-written redis-py loop) hold on a noisy
machine. Not shipped in the wheel.
"""

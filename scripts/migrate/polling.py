"""Adaptive polling for long waits.

A migration can take half an hour, but the deploy should learn the verdict within a second of
the task stopping. Polls start fast (most failures are immediate: bad image, bad SQL) and back
off, but never beyond `max_interval`, which bounds the detection latency. `max_interval`
defaults below one second so that the verdict, including the API round-trips, lands within 1 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class PollPolicy:
    initial: float = 0.25
    factor: float = 1.5
    max_interval: float = 0.75
    # How often a "still running" progress line is logged during a long wait.
    progress_every: float = 30.0

    def intervals(self) -> Iterator[float]:
        """Sleep durations: initial, initial*factor, ... capped at max_interval, forever."""
        interval = self.initial
        while True:
            yield min(interval, self.max_interval)
            interval = min(interval * self.factor, self.max_interval)

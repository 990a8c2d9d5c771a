"""Switchable fault injection shared by the Evotor and VK emulators."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable

CALL_PREFIX = "call:"


class Faults:
    """Decides, request by request, whether an emulator should misbehave and how.

    Two sources of faults, checked in this order by ``draw``:
    one-shot faults queued with ``push`` (optionally only for one method/path), then random
    faults with probability ``rate`` picked from ``kinds`` by a seeded RNG, so a run is reproducible.
    The kind strings are the emulator's business ("5xx", "429", "6", "timeout" ...); this class
    interprets only one thing about them: a pushed kind starting with ``call:`` (``"call:9"``) is meant for one
    call, not a request, so ``draw`` leaves it to ``draw_call`` (the VK emulator fails that call alone, inside
    an ``execute`` batch too, as VK reports a per-method error there).
    """

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._initial_seed = seed
        self._seed = seed
        self._rng = random.Random(seed)
        self._rate = 0.0
        self._kinds: tuple[str, ...] = ()
        self._pushed: list[tuple[str, str | None]] = []
        # How many faults of each kind were handed out; read by tests and benchmarks.
        self.injected: Counter[str] = Counter()
        # Knobs some kinds need (the VK emulator sleeps for "timeout" and "slow").
        self.timeout_seconds: float = 3.0
        self.slow_seconds: float = 0.5

    def configure(self, rate: float = 0.0, kinds: Iterable[str] = (), seed: int | None = None) -> None:
        """Set random faults: each request fails with probability ``rate``, kind chosen from ``kinds``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate!r}")
        kinds = tuple(kinds)
        if rate > 0 and not kinds:
            raise ValueError("a positive fault rate needs at least one kind")
        with self._lock:
            self._rate = float(rate)
            self._kinds = kinds
            if seed is not None:
                self._seed = seed
                self._rng = random.Random(seed)

    def push(self, kind: str, method: str | None = None) -> None:
        """Queue a one-shot fault for the next request (of ``method`` only, when given)."""
        if kind.startswith(CALL_PREFIX) and method is None:
            raise ValueError(f"a call fault ({kind!r}) needs the method it is for")
        with self._lock:
            self._pushed.append((kind, method))

    def clear(self) -> None:
        """Forget every configured and pushed fault, reseed the RNG and zero the counters."""
        with self._lock:
            self._rate = 0.0
            self._kinds = ()
            self._pushed.clear()
            self._seed = self._initial_seed
            self._rng = random.Random(self._initial_seed)
            self.injected.clear()
            self.timeout_seconds = 3.0
            self.slow_seconds = 0.5

    def draw(self, method: str | None = None) -> str | None:
        """Return the fault kind to apply to this request, or None for a normal answer."""
        with self._lock:
            for index, (kind, only_for) in enumerate(self._pushed):
                if kind.startswith(CALL_PREFIX):
                    continue
                if only_for is None or only_for == method:
                    del self._pushed[index]
                    self.injected[kind] += 1
                    return kind
            if self._rate > 0 and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                self.injected[kind] += 1
                return kind
            return None

    def draw_call(self, method: str) -> str | None:
        """The call fault pushed for ``method`` (its kind without ``call:``), taken once; else None."""
        with self._lock:
            for index, (kind, only_for) in enumerate(self._pushed):
                if kind.startswith(CALL_PREFIX) and only_for == method:
                    del self._pushed[index]
                    self.injected[kind] += 1
                    return kind[len(CALL_PREFIX) :]
            return None

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def kinds(self) -> tuple[str, ...]:
        return self._kinds

    @property
    def pending(self) -> list[tuple[str, str | None]]:
        """One-shot faults not yet handed out (a copy)."""
        with self._lock:
            return list(self._pushed)

    def snapshot(self) -> dict:
        """A JSON-friendly view of the current settings, for the control endpoints."""
        with self._lock:
            return {
                "rate": self._rate,
                "kinds": list(self._kinds),
                "seed": self._seed,
                "pending": [{"kind": k, "method": m} for k, m in self._pushed],
                "injected": dict(self.injected),
            }

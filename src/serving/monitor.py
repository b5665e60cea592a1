"""What ``/metrics`` says about the decisions, beside BentoML's request metrics: the drift of the
served risk scores (PSI of the worker's last scores against the model's reference window,
``models.drift``), the channel shares of its last decisions and the hit rate of the results it
received, per channel.

Gauges are per worker (Prometheus multiprocess mode ``liveall``: a ``pid`` label), since a PSI
or a share of one worker's window cannot be summed; the counters (decisions and results per
channel) add up over workers, so a dashboard can also compute pooled shares and hit rates with
``rate()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from customs_risk.data.contracts import CHANNELS
from customs_risk.models.drift import DriftWindow

WINDOW = 10_000  # decisions (and results) a worker's gauges look back on


class Gauges:
    """The Prometheus metrics, made once per process from a prometheus_client-like module
    (``bentoml.metrics`` in the service: it sets up the multiprocess registry)."""

    def __init__(self, metrics: Any) -> None:
        self.psi = metrics.Gauge(
            name="customs_risk_score_psi",
            documentation="PSI of the worker's last risk scores against the model's reference "
            "window (NaN: the model has no reference)",
            multiprocess_mode="liveall",
        )
        self.share = metrics.Gauge(
            name="customs_risk_channel_share",
            documentation="share of the worker's last decisions per channel",
            labelnames=["channel"],
            multiprocess_mode="liveall",
        )
        self.hit_rate = metrics.Gauge(
            name="customs_risk_hit_rate",
            documentation="share of the worker's last results with an offence found, per channel",
            labelnames=["channel"],
            multiprocess_mode="liveall",
        )
        self.decisions = metrics.Counter(
            name="customs_risk_decisions",
            documentation="decisions per channel",
            labelnames=["channel"],
        )
        self.results = metrics.Counter(
            name="customs_risk_results",
            documentation="inspection results received per channel and finding",
            labelnames=["channel", "fraud_found"],
        )


class _Window:
    """The last ``size`` labels and how many of each (O(1) per label)."""

    def __init__(self, size: int) -> None:
        self._items: deque[Any] = deque()
        self._size = size
        self.counts: dict[Any, int] = {}

    def add(self, label: Any) -> None:
        if len(self._items) == self._size:
            old = self._items.popleft()
            self.counts[old] -= 1
        self._items.append(label)
        self.counts[label] = self.counts.get(label, 0) + 1

    def __len__(self) -> int:
        return len(self._items)


class ServiceMonitor:
    """One worker's windows of scores, channels and results, written to the gauges."""

    def __init__(self, gauges: Gauges, reference: Mapping[str, Any] | None) -> None:
        self.gauges = gauges
        self.drift = None if reference is None else DriftWindow(dict(reference), WINDOW)
        self._channels = _Window(WINDOW)
        self._results = _Window(WINDOW)  # (channel, found)
        if self.drift is None:
            gauges.psi.set(float("nan"))

    def observe_decisions(self, decisions: Iterable[Mapping[str, Any]]) -> None:
        """Take a request's decisions (``channel``, ``risk_score``) into the windows."""
        rows = list(decisions)
        counts = dict.fromkeys(CHANNELS, 0)
        for row in rows:
            self._channels.add(row["channel"])
            counts[row["channel"]] += 1
        for channel, n in counts.items():
            if n:
                self.gauges.decisions.labels(channel=channel).inc(n)
        if self.drift is not None:
            scores = [row.get("risk_score") for row in rows]
            self.drift.add(np.array([np.nan if s is None else s for s in scores], dtype=float))
            self.gauges.psi.set(self.drift.value())
        total = len(self._channels)
        for channel in CHANNELS:
            share = self._channels.counts.get(channel, 0) / total
            self.gauges.share.labels(channel=channel).set(share)

    def observe_results(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Take stored results (``channel``, ``fraud_found``) into the windows."""
        for row in results:
            found = bool(row["fraud_found"])
            self._results.add((row["channel"], found))
            self.gauges.results.labels(channel=row["channel"], fraud_found=str(found)).inc()
        counts = self._results.counts
        for channel in CHANNELS:
            hits, misses = counts.get((channel, True), 0), counts.get((channel, False), 0)
            if hits + misses:
                self.gauges.hit_rate.labels(channel=channel).set(hits / (hits + misses))

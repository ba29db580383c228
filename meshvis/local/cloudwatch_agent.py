"""A DogStatsD receiver that stands where the CloudWatch agent stands.

It parses what the sidecars send and maps every sample to the CloudWatch metric the agent
would publish, so the local mesh and the tests can count the metrics a stack creates, price
them, and check that every metric the dashboard and alarms read really arrives.

The mapping follows the agent's statsd input (amazon-cloudwatch-agent
``plugins/inputs/statsd``, a fork of Telegraf's, and its CloudWatch output):

- DogStatsD tags (``|#k:v,...``) are parsed (``parse_data_dog_tags`` is on by default); a tag
  without a value becomes the value ``<empty>``, a tag with an empty value is dropped;
- the metric name is the bucket's dot-separated parts joined with ``metric_separator``;
- a ``metric_type`` dimension is added from the statsd type (``counter``, ``gauge``,
  ``timing`` for ``ms``, ``histogram`` for ``h``, ``set``); a DogStatsD tag of that name wins;
- timers and histograms are aggregated into one metric per name and dimensions, published as
  values and counts, so CloudWatch can answer percentiles (p50, p99) on it;
- ``host`` is added unless ``agent.omit_hostname`` is set, and at most 10 dimensions are
  kept: ``host`` first, then the others in alphabetical order;
- ``metrics.aggregation_dimensions``: a metric with every dimension of a set, and more, is
  also published under that set's dimensions alone (``ProcessRollup``);
- the statsd section's ``drop_original_metrics`` names are received but never published as
  they came, only under the aggregation dimensions (the stack's own agent config,
  components/ecs/agent.py, says which).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from components.ecs.agent import cloudwatch_agent_config, dropped_metric_names
from components.settings.model import Settings
from components.settings.naming import metric_namespace
from dashboards.cloudwatch.alarms import alarm_reads
from dashboards.cloudwatch.dashboard import dashboard_reads
from dashboards.cloudwatch.metrics import (
    CLUSTER,
    COUNTER,
    GAUGE,
    METRIC_SEPARATOR,
    METRIC_TYPE,
    SERVICE,
    TIMING,
)

# Re-exported: the runner and the benches price the metrics this receiver counts.
from dashboards.cloudwatch.prices import metrics_monthly_usd as monthly_cost_usd  # noqa: F401
from dashboards.cloudwatch.slo import slo_alarm_reads

STATSD_TYPES = {"c": COUNTER, "g": GAUGE, "ms": TIMING, "h": "histogram", "s": "set"}
# What the agent puts in place of a valueless tag (CloudWatch rejects empty dimension values).
EMPTY_TAG_VALUE = "<empty>"
MAX_DIMENSIONS = 10
HOST = "host"
MAX_DATAGRAM = 64 * 1024
# Timed samples kept per metric for the local alarm evaluation (meshvis/local/alarm_eval.py):
# a game day's worth at the sidecars' rates; beyond it the oldest go first, so memory is bounded.
KEPT_SAMPLES_PER_METRIC = 200_000


@dataclass(frozen=True)
class Sample:
    """One statsd value as sent: ``name:value|type|@sample_rate|#tags``.

    A tag without a value (``#flag``) maps to None; a set's value stays a string.
    """

    name: str
    value: float | str
    type: str
    sample_rate: float = 1.0
    tags: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class CloudWatchMetric:
    """One CloudWatch metric: what the metric bill counts (namespace, name, dimensions)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    def dimension(self, key: str) -> str | None:
        return dict(self.dimensions).get(key)


def parse_datagram(data: bytes) -> list[Sample]:
    """Every sample in one datagram (newline-separated lines); malformed lines are skipped,
    as the agent skips them."""
    return _parse(data)[0]


def _parse(data: bytes) -> tuple[list[Sample], int]:
    """The datagram's samples and the number of lines that were not valid statsd."""
    samples: list[Sample] = []
    rejected = 0
    for line in data.decode("utf-8", errors="replace").split("\n"):
        line = line.strip()
        if not line:
            continue
        try:
            samples.extend(parse_line(line))
        except ValueError:
            rejected += 1
    return samples, rejected


def parse_line(line: str) -> list[Sample]:
    """The samples of one line; raises ValueError if the line is not statsd.

    As in the agent, the ``#tags`` segments are taken out first, then the rest splits on ``:``
    into a bucket and one or more ``value|type[|@rate]`` parts (``a:1|c:2|c`` is two samples).
    """
    tags: dict[str, str | None] = {}
    kept = []
    for segment in line.split("|"):
        if segment.startswith("#"):
            for tag in segment[1:].split(","):
                key, sep, value = tag.partition(":")
                if key:
                    tags[key] = value if sep else None
        else:
            kept.append(segment)
    bucket, *parts = "|".join(kept).split(":")
    if not bucket or not parts:
        raise ValueError(f"no ':' after the metric name: {line!r}")
    samples = []
    for part in parts:
        fields = part.split("|")
        if len(fields) < 2 or fields[1] not in STATSD_TYPES:
            raise ValueError(f"unknown statsd type in {line!r}")
        kind = fields[1]
        rate = 1.0
        if len(fields) > 2 and fields[2].startswith("@"):
            rate = float(fields[2][1:])
        reading: float | str = fields[0] if kind == "s" else float(fields[0])
        samples.append(Sample(bucket, reading, kind, rate, dict(tags)))
    return samples


def cloudwatch_metric(
    sample: Sample, settings: Settings, host: str | None = None
) -> CloudWatchMetric:
    """The metric the agent publishes ``sample`` as, in the mesh's namespace.

    ``host`` adds the dimension the agent adds when ``omit_hostname`` is off (ours is on);
    pass a task's host name to see what that would cost.
    """
    # Influx-style tags in the bucket (`name,k=v`) are honoured by the agent too.
    bucket, *bucket_tags = sample.name.split(",")
    tags: dict[str, str] = {}
    for pair in bucket_tags:
        key, sep, value = pair.partition("=")
        if sep and key:
            tags[key] = value
    tags[METRIC_TYPE] = STATSD_TYPES[sample.type]
    for key, tag_value in sample.tags.items():
        tags[key] = EMPTY_TAG_VALUE if tag_value is None else tag_value
    if host:
        tags[HOST] = host
    kept = [(HOST, tags[HOST])] if tags.get(HOST) else []
    kept += [(k, tags[k]) for k in sorted(tags) if k != HOST and tags[k] != ""]
    name = METRIC_SEPARATOR.join(bucket.split("."))
    return CloudWatchMetric(
        metric_namespace(settings.mesh_name), name, tuple(sorted(kept[:MAX_DIMENSIONS]))
    )


def published_metrics(
    metric: CloudWatchMetric, aggregations: Sequence[Sequence[str]], dropped: Collection[str]
) -> list[CloudWatchMetric]:
    """What the agent publishes of one ``metric`` it received: the metric itself unless its
    name is ``dropped``, and one per aggregation dimension set it has every dimension of and
    more (amazon-cloudwatch-agent plugins/outputs/cloudwatch/cloudwatch.go ProcessRollup and
    BuildMetricDatum @ab55b8da: a dropped name's aggregates are still published)."""
    dimensions = dict(metric.dimensions)
    out = [] if metric.name in dropped else [metric]
    for keys in aggregations:
        if len(keys) < len(dimensions) and all(key in dimensions for key in keys):
            kept = tuple(sorted((key, dimensions[key]) for key in keys))
            out.append(CloudWatchMetric(metric.namespace, metric.name, kept))
    return out


def charged_service(metric: CloudWatchMetric) -> str:
    """The service a metric is charged to: the sidecar that sent it (``service``), or for the
    agent's per-upstream aggregate the upstream it is about; "" for neither."""
    return metric.dimension(SERVICE) or metric.dimension(CLUSTER) or ""


def metrics_per_service(metrics: Iterable[CloudWatchMetric]) -> dict[str, int]:
    """Distinct metrics by the service each is charged to (``charged_service``)."""
    return dict(sorted(Counter(charged_service(m) for m in metrics).items()))


def missing_metrics(
    settings: Settings, metrics: Iterable[CloudWatchMetric], *, include_event_only: bool = False
) -> list[str]:
    """Every metric the dashboard, alarms and SLO alarms read that is not among ``metrics``.

    Metrics Envoy creates only after an event (a 5xx, a retry, an HTTP/2 client) are left out
    unless ``include_event_only``: a healthy run never has them, and their widgets and alarms
    rightly stay empty until it does.
    """
    namespace = metric_namespace(settings.mesh_name)
    published = {(m.name, m.dimensions) for m in metrics if m.namespace == namespace}
    missing = set()
    for read in [*dashboard_reads(settings), *alarm_reads(settings), *slo_alarm_reads(settings)]:
        if read.when is not None and not include_event_only:
            continue
        if not any(read.matches(name, dims) for name, dims in published):
            missing.add(str(read) + (f" (appears after {read.when})" if read.when else ""))
    return sorted(missing)


class DogStatsdReceiver:
    """A UDP DogStatsD listener that records the CloudWatch metrics the agent would create.

    It listens on every address in ``addresses`` (host, port; port 0 picks one on the first
    start): the local mesh gives it each replica's loopback address and port 8125, where each
    task's own agent listens on ECS. Use as a context manager, or ``start()``/``stop()`` as
    often as needed: a restart binds the same addresses again and keeps what was recorded.
    """

    def __init__(
        self, settings: Settings, addresses: Sequence[tuple[str, int]] = (("127.0.0.1", 0),)
    ) -> None:
        self.settings = settings
        config = cloudwatch_agent_config(settings)
        self._dropped = dropped_metric_names(config)
        self._aggregations = config["metrics"].get("aggregation_dimensions", [])
        self._addresses = list(addresses)
        self._lock = threading.Lock()
        self._metrics: set[CloudWatchMetric] = set()
        self._timed: dict[CloudWatchMetric, deque[tuple[float, float, float]]] = {}
        self._samples = 0
        self._datagrams = 0
        self._rejected = 0
        self._sockets: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_datagram = time.monotonic()
        # What ended the receiving thread, if anything but stop() did.
        self.failure: BaseException | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound (host, port) pairs (as asked, ports picked on the first start)."""
        if any(port == 0 for _, port in self._addresses):
            raise RuntimeError("the receiver has not been started yet")
        return list(self._addresses)

    @property
    def port(self) -> int:
        """The first address's UDP port."""
        return self.addresses[0][1]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DogStatsdReceiver:
        """Bind every address and receive in a background thread (no-op if running)."""
        if self.running:
            return self
        try:
            for host, port in self._addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sockets.append(sock)
                sock.bind((host, port))
        except OSError as err:
            self._close()
            err.filename = f"{host}:{port}"  # which of the addresses is taken
            raise
        self._addresses = [s.getsockname() for s in self._sockets]
        self._stopping.clear()
        self._last_datagram = time.monotonic()
        self.failure = None
        self._thread = threading.Thread(
            target=self._receive, daemon=True, name=f"dogstatsd:{len(self._sockets)}"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop receiving and release the ports; what was recorded stays readable."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def _receive(self) -> None:
        try:
            self._receive_until_stopped()
        except Exception as err:
            # The thread ends; the run reports why (``running`` is now False), in one line.
            self.failure = err

    def _receive_until_stopped(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sock in self._sockets:
                selector.register(sock, selectors.EVENT_READ)
            # A short timeout lets the thread notice stop() without closing sockets under it.
            while not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.2):
                    # The selector gives back what was registered: one of our sockets.
                    self._record(cast(socket.socket, key.fileobj).recv(MAX_DATAGRAM))

    def _record(self, data: bytes) -> None:
        samples, rejected = _parse(data)
        now = time.time()
        mapped = [
            (metric, s)
            for s in samples
            for metric in published_metrics(
                cloudwatch_metric(s, self.settings), self._aggregations, self._dropped
            )
        ]
        with self._lock:
            self._last_datagram = time.monotonic()
            self._datagrams += 1
            self._samples += len(samples)
            self._rejected += rejected
            for metric, sample in mapped:
                self._metrics.add(metric)
                if isinstance(sample.value, float):
                    kept = self._timed.setdefault(metric, deque(maxlen=KEPT_SAMPLES_PER_METRIC))
                    kept.append((now, sample.value, 1.0 / sample.sample_rate))

    def metrics(self) -> set[CloudWatchMetric]:
        """Distinct CloudWatch metrics seen so far."""
        with self._lock:
            return set(self._metrics)

    def timed_samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], list]:
        """(metric name, dimension pairs) -> every numeric sample received for it, as
        ``(unix time received, value, weight)``: a counter's increment or one timing value,
        weighted by ``1/sample_rate`` as the agent counts it. The agent folds these into one
        datum per aggregation interval (values and counts, so percentiles stay available);
        meshvis/local/alarm_eval.py folds them per alarm period the same way."""
        with self._lock:
            return {(m.name, m.dimensions): list(kept) for m, kept in self._timed.items()}

    def names(self) -> set[str]:
        """Distinct CloudWatch metric names seen so far."""
        return {m.name for m in self.metrics()}

    def silent_for(self) -> float:
        """Seconds since the last datagram (or since the start, before the first one)."""
        with self._lock:
            return time.monotonic() - self._last_datagram

    def samples_received(self) -> int:
        with self._lock:
            return self._samples

    def datagrams_received(self) -> int:
        with self._lock:
            return self._datagrams

    def rejected_lines(self) -> int:
        """Lines that were not valid statsd (the agent would log and drop them)."""
        with self._lock:
            return self._rejected

    def __enter__(self) -> DogStatsdReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

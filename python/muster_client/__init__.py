"""muster_client: drop-in Python client for Muster (standard library only).

Switching from the deployed monitoring module is a one-line import change::

    from muster_client import ExtractionMonitoring, get_monitoring_client

What changes is underneath: no call waits on the network. Each call encodes
its JSON body, puts it on a bounded in-memory queue and returns (a few
microseconds, whether the server is up, slow or gone); one daemon thread per
client sends the queue in order over a kept-alive HTTP connection.

Return values
-------------
Every method returns True or False and never raises into the pipeline.
Because sending happens later, **True means "accepted for delivery"**: the
update is queued and will be sent unless it is dropped for room (see below),
refused by the server (HTTP 4xx), or given up (5xx/408/429 ``max_attempts``
times, or still unsendable when the process exits). **False means "not
accepted"**: monitoring is disabled, the client is closed, the body cannot
be encoded, or the base URL / worker id is unusable. Delivery itself is
observable through ``flush(timeout)`` (True when everything accepted before
the call was delivered) and ``stats()``.

Delivery
--------
- Real timeouts: ``timeout`` (default 5 s, as the deployed scripts intended)
  applies to the connect and to every read of each request.
- Retries with exponential backoff (0.1 s doubling to 5 s, jittered): while
  the server cannot be reached, updates stay queued in order; an update
  answered 5xx, 408 or 429 is retried up to ``max_attempts`` (3); a 4xx
  answer is final (``stats()["rejected"]``).
- Bounded queue (``queue_size``, default 1024): when full, the oldest update
  is dropped and counted (``stats()["dropped"]``, ``dropped_count``). At
  most one extraction status waits at a time: a newer one supersedes it
  (a status replaces the whole status on the server) and it is never the one
  dropped, so the latest status always gets through.
- ``flush(timeout)`` waits for what is queued, retrying a backed-off server at
  once; ``close(timeout)`` flushes and stops. At interpreter exit every client
  is flushed for up to ``exit_timeout`` (2 s); while exiting the sender does
  not back off, so with the server down exit is immediate.
- Heartbeats (worker id needed): ``start_heartbeats(interval)`` or
  ``heartbeat_interval=``; POST ``/api/monitoring/worker/{id}/heartbeat`` with
  ``{"worker_type": ...}`` (or ``{}``), sent by the same thread when it is
  idle.
- After ``os.fork`` the child starts with an empty queue and its own thread.

Routing
-------
With a worker id **every** kind of update goes to
``/api/monitoring/worker/{worker_id}/{extraction_status, circuit_breakers,
performance, error, extraction_complete, log, heartbeat}``. The deployed
module sent only extraction status and breakers there; its errors,
completions and performance went to the legacy paths without the worker
(only logs carried ``worker_id`` in the body). Without a worker id, the
legacy paths ``/api/monitoring/{kind}``, as before. A path prefix in
``base_url`` (``http://host/muster``) is kept.

API (the deployed module's, signatures inferred from its captured traffic)
-----------------------------------------------------------------------------
``MonitoringClient(base_url="http://localhost:8000", worker_id=None, *,
timeout=5.0, queue_size=1024, max_attempts=3, heartbeat_interval=None,
worker_type=None, exit_timeout=2.0, token=None)`` -- the keywords after
worker_id are additions (token: ``Authorization: Bearer`` for a server run
with ``--auth-token``). Methods, with the body each sends:

- ``enable_monitoring()`` / ``disable_monitoring()``
- ``update_extraction_status(status, current_diocese=None,
  parishes_processed=0, total_parishes=0, success_rate=0.0,
  progress_percentage=0.0, started_at=None, estimated_completion=None)`` ->
  the whole object ``{status, current_diocese, parishes_processed,
  total_parishes, success_rate, progress_percentage, estimated_completion,
  started_at}`` with null for absent values. Times may be datetimes (naive =
  local time), ISO strings or Unix seconds. A running/paused status without
  started_at carries the time the current run started (the deployed module
  sent the time of each update instead).
- ``update_circuit_breakers(breakers)`` -> the dict as given: name ->
  ``{state, total_requests, total_successes, total_failures, total_blocked,
  success_rate}``; ``success_rate`` may be ``"95.6%"``.
- ``update_performance_metrics(parishes_per_minute=0.0, queue_size=0,
  pool_utilization=0.0, total_requests=0, successful_requests=0)``
- ``report_error(error_type, message, diocese=None, severity="error")`` ->
  ``{type, message, diocese, severity}``
- ``report_extraction_complete(diocese_name, parishes_extracted=0,
  success_rate=0.0, duration=0.0, status="completed", parish_name=None,
  parish_url=None, parish_address=None, schedules_found=None,
  mass_times=None, **extra)`` -> ``{diocese_name, duration, status,
  timestamp, parishes_extracted, success_rate}`` for a diocese, or with
  parish_name the parish-level keys ``parish_name, parish_url,
  parish_address, schedules_found, mass_times`` (``url``/``source_url`` and
  ``address`` are accepted as aliases). ``timestamp`` is the client's time.
- ``send_log(message, level="INFO", module="extraction", worker_type=None)``
  -> ``{message, level, module}`` plus ``worker_type`` when known (the
  client's ``worker_type`` by default). The deployed module's
  ``"worker_id"``/``"worker_type": null`` keys are not needed: the path
  names the worker.
- ``extraction_started(diocese_name, total_parishes=0)`` -> running status
  with 0 processed, log "Started extraction for D (N parishes)".
- ``extraction_progress(diocese_name, processed, total, success_rate=0.0)``
  -> running status, progress = processed / total x 100.
- ``extraction_finished(diocese_name, parishes_processed, success_rate=0.0,
  duration=0.0, status="completed")`` -> idle status (all null/0),
  completion, log "✅ Completed D: N parishes, R% success" (for another
  status: level ERROR, "❌ Failed D: ...").
- ``circuit_breaker_opened(breaker_name, reason="")`` -> error
  ``{type: "CircuitBreakerOpen", message: "Circuit breaker 'X' opened:
  reason", diocese: null, severity: "warning"}``, log WARNING "🚫 Circuit
  breaker 'X' OPEN: reason".
- ``circuit_breaker_closed(breaker_name)`` -> log "🟢 Circuit breaker 'X'
  CLOSED - service recovered".
- ``performance_update(...)`` -> same as update_performance_metrics.
- Additions: ``heartbeat(worker_type=None)``, ``start_heartbeats(interval=30.0,
  worker_type=None)``, ``stop_heartbeats()``, ``flush(timeout=5.0)``,
  ``close(timeout=None)``, ``stats()``, ``dropped_count``,
  ``MonitoringClient.from_env()``.

Numbers are made acceptable before sending (percentages clamped to 0-100,
counts to whole numbers >= 0, NaN to 0), so one bad value does not get a
whole update refused.

Module level: ``get_monitoring_client(base_url="http://localhost:8000",
worker_id=None)`` returns the process-wide client (a call with the defaults
reuses the current one; see its docstring), ``client_from_env()`` builds one
from ``MONITORING_URL`` (default http://localhost:8000), ``WORKER_ID`` (empty
or unset: legacy paths), ``WORKER_TYPE`` and ``MONITORING_TOKEN`` (or
``MONITORING_TOKEN_FILE``) and installs it as the
process-wide client (heartbeats every 30 s when a worker id is set), and every
method above also exists as a function on the process-wide client
(``send_log(...)``, ``extraction_started(...)``, ``flush()``, ...).

``ExtractionMonitoring(diocese_name, total_parishes=0,
base_url="http://localhost:8000", worker_id=None)`` is the context manager:
entering calls extraction_started; ``update_progress(processed,
successful)`` calls extraction_progress (with an estimated completion) and
logs "📊 Progress: P/T parishes (X%)" every fifth parish; leaving calls
extraction_finished. When the block raises it first reports
``ExtractionError`` "Extraction failed: <exception>" (severity error,
with the diocese), and the completion's status is ``"failed"`` (the deployed
module said "completed"); the exception propagates.
"""

from .client import DEFAULT_BASE_URL, VERSION, MonitoringClient
from .monitoring import (
    ExtractionMonitoring,
    circuit_breaker_closed,
    circuit_breaker_opened,
    client_from_env,
    disable_monitoring,
    enable_monitoring,
    extraction_finished,
    extraction_progress,
    extraction_started,
    flush,
    get_monitoring_client,
    performance_update,
    report_error,
    report_extraction_complete,
    send_log,
    update_circuit_breakers,
    update_extraction_status,
    update_performance_metrics,
)

__version__ = VERSION

__all__ = [
    "DEFAULT_BASE_URL",
    "ExtractionMonitoring",
    "MonitoringClient",
    "circuit_breaker_closed",
    "circuit_breaker_opened",
    "client_from_env",
    "disable_monitoring",
    "enable_monitoring",
    "extraction_finished",
    "extraction_progress",
    "extraction_started",
    "flush",
    "get_monitoring_client",
    "performance_update",
    "report_error",
    "report_extraction_complete",
    "send_log",
    "update_circuit_breakers",
    "update_extraction_status",
    "update_performance_metrics",
]

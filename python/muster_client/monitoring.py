"""The process-wide client, the module-level helpers and ExtractionMonitoring."""

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from .client import DEFAULT_BASE_URL, MonitoringClient

__all__ = [
    "get_monitoring_client", "client_from_env", "ExtractionMonitoring",
    "enable_monitoring", "disable_monitoring", "update_extraction_status", "update_circuit_breakers",
    "update_performance_metrics", "report_error", "report_extraction_complete", "send_log",
    "extraction_started", "extraction_progress", "extraction_finished",
    "circuit_breaker_opened", "circuit_breaker_closed", "performance_update", "flush",
]

log = logging.getLogger("muster_client")

_instance = None
_instance_lock = threading.Lock()


def get_monitoring_client(base_url=DEFAULT_BASE_URL, worker_id=None):
    """The process-wide client.

    The first call creates it. Later calls return it unless they ask for
    something else: a base_url other than the default, or a worker id, that
    differs from the current one makes a new client the process-wide one (the
    old one keeps delivering what it holds). So a call with the defaults,
    as in ExtractionMonitoring(diocese), reuses a client set up earlier with
    a worker id or by client_from_env().
    """
    global _instance
    with _instance_lock:
        current = _instance
        if current is not None:
            url_ok = base_url in (None, DEFAULT_BASE_URL) or base_url == current.base_url
            id_ok = not worker_id or worker_id == current.worker_id
            if url_ok and id_ok:
                return current
            if base_url in (None, DEFAULT_BASE_URL):
                base_url = current.base_url
        _instance = MonitoringClient(base_url or DEFAULT_BASE_URL, worker_id)
        return _instance


def client_from_env(environ=None, install=True, **kwargs):
    """A client built from $MONITORING_URL and $WORKER_ID (and $WORKER_TYPE);
    see MonitoringClient.from_env. With install (the default) it becomes the
    process-wide client that the module-level helpers and
    ExtractionMonitoring use."""
    global _instance
    client = MonitoringClient.from_env(environ, **kwargs)
    if install:
        with _instance_lock:
            _instance = client
    return client


def _set_instance(client):
    """Replaces the process-wide client (tests)."""
    global _instance
    with _instance_lock:
        _instance = client


def _call(name, *args, **kwargs):
    try:
        return getattr(get_monitoring_client(), name)(*args, **kwargs)
    except Exception:
        log.debug("muster_client: %s failed", name, exc_info=True)
        return False


def enable_monitoring():
    """Turns the process-wide client's reporting on."""
    return _call("enable_monitoring")


def disable_monitoring():
    """Turns the process-wide client's reporting off."""
    return _call("disable_monitoring")


def update_extraction_status(*args, **kwargs):
    return _call("update_extraction_status", *args, **kwargs)


def update_circuit_breakers(*args, **kwargs):
    return _call("update_circuit_breakers", *args, **kwargs)


def update_performance_metrics(*args, **kwargs):
    return _call("update_performance_metrics", *args, **kwargs)


def report_error(*args, **kwargs):
    return _call("report_error", *args, **kwargs)


def report_extraction_complete(*args, **kwargs):
    return _call("report_extraction_complete", *args, **kwargs)


def send_log(*args, **kwargs):
    return _call("send_log", *args, **kwargs)


def extraction_started(*args, **kwargs):
    return _call("extraction_started", *args, **kwargs)


def extraction_progress(*args, **kwargs):
    return _call("extraction_progress", *args, **kwargs)


def extraction_finished(*args, **kwargs):
    return _call("extraction_finished", *args, **kwargs)


def circuit_breaker_opened(*args, **kwargs):
    return _call("circuit_breaker_opened", *args, **kwargs)


def circuit_breaker_closed(*args, **kwargs):
    return _call("circuit_breaker_closed", *args, **kwargs)


def performance_update(*args, **kwargs):
    return _call("performance_update", *args, **kwargs)


def flush(timeout=5.0):
    """Flushes the process-wide client."""
    return _call("flush", timeout)


class ExtractionMonitoring(object):
    """Reports one diocese's extraction from start to finish.

        with ExtractionMonitoring("Diocese of Erie", total_parishes=len(parishes)) as monitor:
            for i, parish in enumerate(parishes, 1):
                ok += extract(parish)
                monitor.update_progress(i, ok)

    Entering reports a running status and a "Started extraction" log line;
    update_progress(processed, successful) a running status (with an
    estimated completion), and a progress log line every fifth parish;
    leaving an idle status, the completion and a log line. When the block
    raises, an ExtractionError is reported first and the completion's status
    is "failed"; the exception propagates.

    It uses the process-wide client (get_monitoring_client(base_url,
    worker_id)) unless a client is given.
    """

    def __init__(self, diocese_name, total_parishes=0, base_url=DEFAULT_BASE_URL, worker_id=None, client=None):
        self.diocese_name = diocese_name
        try:
            self.total_parishes = max(int(total_parishes or 0), 0)
        except (TypeError, ValueError):
            self.total_parishes = 0
        self.processed_count = 0
        self.successful_count = 0
        self.start_time = None
        self._started_at = None
        self.monitoring_client = client if client is not None else get_monitoring_client(base_url, worker_id)

    @property
    def success_rate(self):
        if self.processed_count <= 0:
            return 0.0
        return min(self.successful_count * 100.0 / self.processed_count, 100.0)

    def __enter__(self):
        try:
            self.start_time = time.time()
            self._started_at = datetime.now(timezone.utc)
            self.monitoring_client.extraction_started(self.diocese_name, self.total_parishes,
                                                      started_at=self._started_at)
        except Exception:
            log.debug("muster_client: extraction start failed", exc_info=True)
        return self

    def update_progress(self, processed, successful=None):
        """Reports processed parishes done, successful of them successfully
        (default: all of them)."""
        try:
            processed = max(int(processed), 0)
            successful = processed if successful is None else min(max(int(successful), 0), processed)
            self.processed_count, self.successful_count = processed, successful
            if self.start_time is None:
                self.start_time = time.time()
                self._started_at = datetime.now(timezone.utc)
            ok = self.monitoring_client.extraction_progress(
                self.diocese_name, processed, self.total_parishes, self.success_rate,
                started_at=self._started_at, estimated_completion=self._estimate())
            if processed > 0 and processed % 5 == 0:
                progress = processed * 100.0 / self.total_parishes if self.total_parishes else 0.0
                self.monitoring_client.send_log(
                    "\U0001f4ca Progress: %d/%d parishes (%.1f%%)" % (processed, self.total_parishes, progress),
                    "INFO")
            return ok
        except Exception:
            log.debug("muster_client: update_progress failed", exc_info=True)
            return False

    def _estimate(self):
        """When the rest will be done if it goes as fast as what is done."""
        if self.processed_count <= 0 or self.total_parishes <= 0 or self.start_time is None:
            return None
        left = max(self.total_parishes - self.processed_count, 0)
        per_parish = max(time.time() - self.start_time, 0.0) / self.processed_count
        return datetime.now(timezone.utc) + timedelta(seconds=per_parish * left)

    def __exit__(self, exc_type, exc, tb):
        try:
            duration = max(time.time() - (self.start_time or time.time()), 0.0)
            client = self.monitoring_client
            status = "completed"
            if exc_type is not None:
                status = "failed"
                client.report_error("ExtractionError", "Extraction failed: %s" % (exc,), self.diocese_name, "error")
            client.extraction_finished(self.diocese_name, self.processed_count, self.success_rate, duration,
                                       status=status)
        except Exception:
            log.debug("muster_client: extraction finish failed", exc_info=True)
        return False

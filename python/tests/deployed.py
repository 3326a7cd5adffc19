"""What the deployed scripts send, request by request.

DeployedModule is a stand-in for the monitoring module already deployed in
the fleet, written from its captured traffic (../shared/cases/07 and 08, and
CONTRACT section 2). It does not send anything: it records the requests the
deployed module would send, with their exact paths, keys, key order and
values, so a test can send them raw. Two key sets:

- "older" (seed era): no worker id; everything on the legacy paths; log
  bodies {message, level, module}; completions {diocese_name,
  parishes_extracted, success_rate, duration, status}.
- "newer": a worker id; extraction status and breakers on the worker's
  paths, everything else on the legacy paths; log bodies add "worker_id" and
  "worker_type": null; completions {diocese_name, duration, status,
  timestamp, parishes_extracted, success_rate}.

Both send the whole extraction status with nulls, with a fresh started_at on
every running update, and report a failed extraction as "completed".

pipeline_script drives either that module or muster_client through the
same fleet script: three dioceses, a breaker opening and closing, and one
extraction failing. It only uses the deployed API, so running it against
muster_client is "a script written for the deployed module, with only its
import changed".
"""

import time
from datetime import datetime, timezone

DEFAULT_BASE_URL = "http://localhost:8000"


def _now():
    return datetime.now(timezone.utc).isoformat()


class DeployedModule(object):
    """Records what the deployed module sends; see the module docstring."""

    def __init__(self, keys):
        assert keys in ("older", "newer")
        self.keys = keys
        self.requests = []  # (method, path, body)
        self._client = None
        module = self

        class MonitoringClient(object):
            def __init__(self, base_url=DEFAULT_BASE_URL, worker_id=None):
                self.base_url = base_url
                self.worker_id = worker_id if module.keys == "newer" else None
                self.enabled = True

            def _post(self, path, body):
                if self.enabled:
                    module.requests.append(("POST", path, body))
                return self.enabled

            def _state_path(self, kind):
                if self.worker_id:
                    return "/api/monitoring/worker/%s/%s" % (self.worker_id, kind)
                return "/api/monitoring/" + kind

            def update_extraction_status(self, status, current_diocese=None, parishes_processed=0,
                                         total_parishes=0, success_rate=0.0, progress_percentage=0.0,
                                         started_at=None, estimated_completion=None):
                return self._post(self._state_path("extraction_status"), {
                    "status": status,
                    "current_diocese": current_diocese,
                    "parishes_processed": parishes_processed,
                    "total_parishes": total_parishes,
                    "success_rate": success_rate,
                    "progress_percentage": progress_percentage,
                    "estimated_completion": estimated_completion,
                    "started_at": started_at or (_now() if status == "running" else None),
                })

            def update_circuit_breakers(self, breakers):
                return self._post(self._state_path("circuit_breakers"), breakers)

            def update_performance_metrics(self, parishes_per_minute=0.0, queue_size=0, pool_utilization=0.0,
                                           total_requests=0, successful_requests=0):
                return self._post("/api/monitoring/performance", {
                    "parishes_per_minute": parishes_per_minute,
                    "queue_size": queue_size,
                    "pool_utilization": pool_utilization,
                    "total_requests": total_requests,
                    "successful_requests": successful_requests,
                })

            performance_update = update_performance_metrics

            def report_error(self, error_type, message, diocese=None, severity="error"):
                return self._post("/api/monitoring/error", {
                    "type": error_type, "message": message, "diocese": diocese, "severity": severity})

            def report_extraction_complete(self, diocese_name, parishes_extracted=0, success_rate=0.0,
                                           duration=0.0, status="completed"):
                if module.keys == "older":
                    body = {"diocese_name": diocese_name, "parishes_extracted": parishes_extracted,
                            "success_rate": success_rate, "duration": duration, "status": status}
                else:
                    body = {"diocese_name": diocese_name, "duration": duration, "status": status,
                            "timestamp": _now(), "parishes_extracted": parishes_extracted,
                            "success_rate": success_rate}
                return self._post("/api/monitoring/extraction_complete", body)

            def send_log(self, message, level="INFO", module_name="extraction", worker_type=None):
                body = {"message": message, "level": level, "module": module_name}
                if module.keys == "newer":
                    body["worker_id"] = self.worker_id
                    body["worker_type"] = worker_type
                return self._post("/api/monitoring/log", body)

            def extraction_started(self, diocese_name, total_parishes=0):
                self.update_extraction_status("running", diocese_name, 0, total_parishes, 0.0, 0.0)
                self.send_log("Started extraction for %s (%d parishes)" % (diocese_name, total_parishes))

            def extraction_progress(self, diocese_name, processed, total, success_rate=0.0):
                progress = processed / total * 100 if total else 0.0
                self.update_extraction_status("running", diocese_name, processed, total, success_rate, progress)

            def extraction_finished(self, diocese_name, parishes_processed, success_rate=0.0, duration=0.0):
                self.update_extraction_status("idle", None, 0, 0, 0.0, 0.0)
                self.report_extraction_complete(diocese_name, parishes_processed, success_rate, duration)
                self.send_log("\u2705 Completed %s: %d parishes, %.1f%% success"
                              % (diocese_name, parishes_processed, success_rate))

            def circuit_breaker_opened(self, breaker_name, reason=""):
                self.report_error("CircuitBreakerOpen", "Circuit breaker '%s' opened: %s" % (breaker_name, reason),
                                  None, "warning")
                self.send_log("\U0001f6ab Circuit breaker '%s' OPEN: %s" % (breaker_name, reason), "WARNING")

            def circuit_breaker_closed(self, breaker_name):
                self.send_log("\U0001f7e2 Circuit breaker '%s' CLOSED - service recovered" % breaker_name, "INFO")

        def get_monitoring_client(base_url=DEFAULT_BASE_URL, worker_id=None):
            if module._client is None:
                module._client = MonitoringClient(base_url, worker_id)
            return module._client

        class ExtractionMonitoring(object):
            def __init__(self, diocese_name, total_parishes=0, base_url=DEFAULT_BASE_URL, worker_id=None):
                self.diocese_name = diocese_name
                self.total_parishes = total_parishes
                self.monitoring_client = get_monitoring_client(base_url, worker_id)
                self.processed_count = 0
                self.successful_count = 0

            def __enter__(self):
                self.start_time = time.time()
                self.monitoring_client.extraction_started(self.diocese_name, self.total_parishes)
                return self

            def update_progress(self, processed, successful):
                self.processed_count, self.successful_count = processed, successful
                rate = successful / processed * 100 if processed else 0.0
                self.monitoring_client.extraction_progress(self.diocese_name, processed, self.total_parishes, rate)
                if processed % 5 == 0:
                    progress = processed / self.total_parishes * 100 if self.total_parishes else 0.0
                    self.monitoring_client.send_log("\U0001f4ca Progress: %d/%d parishes (%.1f%%)"
                                                    % (processed, self.total_parishes, progress))

            def __exit__(self, exc_type, exc, tb):
                duration = time.time() - self.start_time
                rate = self.successful_count / self.processed_count * 100 if self.processed_count else 0.0
                if exc_type is not None:
                    self.monitoring_client.report_error("ExtractionError", "Extraction failed: %s" % exc,
                                                        self.diocese_name, "error")
                self.monitoring_client.extraction_finished(self.diocese_name, self.processed_count, rate, duration)
                return False

        self.MonitoringClient = MonitoringClient
        self.get_monitoring_client = get_monitoring_client
        self.ExtractionMonitoring = ExtractionMonitoring


# ----------------------------------------------------------------------
# The fleet script of the captured traffic

WORKER_ID = "worker-pod-7f9c2"

INITIAL_BREAKERS = {
    "diocese_page_load": {"state": "CLOSED", "total_requests": 45, "success_rate": "95.6%",
                          "total_failures": 2, "total_blocked": 0},
    "parish_detail_load": {"state": "CLOSED", "total_requests": 128, "success_rate": "87.5%",
                           "total_failures": 16, "total_blocked": 0},
    "webdriver_requests": {"state": "HALF_OPEN", "total_requests": 89, "success_rate": "92.1%",
                           "total_failures": 7, "total_blocked": 3},
}
OPEN_BREAKER = {"webdriver_requests": {"state": "OPEN", "total_requests": 97, "total_successes": 85,
                                       "total_failures": 12, "total_blocked": 9, "success_rate": 87.6}}
CLOSED_BREAKER = {"webdriver_requests": {"state": "CLOSED", "total_requests": 110, "total_successes": 98,
                                         "total_failures": 12, "total_blocked": 9, "success_rate": 89.1}}
PERFORMANCE = [(11.22, 8, 0.52), (8.42, 4, 0.35), (11.76, 0, 0.87), (13.15, 3, 0.47)]

# (diocese, parishes, the parishes that fail, the parish whose fetch raises,
# whether the webdriver breaker opens at the end)
DIOCESES = [
    ("Archdiocese of Atlanta", 12, (), None, False),
    ("Diocese of Boston", 7, (3,), None, True),
    ("Diocese of Erie", 5, (), 2, False),
]
FAILURE = "directory page returned 503"


class ExtractionFailed(Exception):
    pass


def pipeline_script(mod, base_url, worker_id=None):
    """The fleet script of cases 07/08, written against the deployed API.
    mod is DeployedModule(...) or the muster_client package."""
    client = mod.get_monitoring_client(base_url, worker_id)
    client.update_circuit_breakers(INITIAL_BREAKERS)
    client.send_log("Circuit breakers initialized", "INFO", "extraction")
    performance = iter(PERFORMANCE)
    for diocese, total, failing, raises_at, breaker_opens in DIOCESES:
        try:
            with mod.ExtractionMonitoring(diocese, total, base_url, worker_id) as monitor:
                successful = 0
                for i in range(1, total + 1):
                    if i == raises_at:
                        raise ExtractionFailed(FAILURE)
                    if i not in failing:
                        successful += 1
                    monitor.update_progress(i, successful)
                    if i % 4 == 0:
                        ppm, queue, pool = next(performance)
                        client.performance_update(ppm, queue, pool, 0, 0)
                if breaker_opens:
                    client.circuit_breaker_opened("webdriver_requests", "5 consecutive failures")
                    client.update_circuit_breakers(OPEN_BREAKER)
        except ExtractionFailed:
            pass
    client.circuit_breaker_closed("webdriver_requests")
    client.update_circuit_breakers(CLOSED_BREAKER)
    return client


def deployed_requests(keys, worker_id=WORKER_ID):
    """The requests the deployed module sends for pipeline_script."""
    mod = DeployedModule(keys)
    pipeline_script(mod, DEFAULT_BASE_URL, worker_id if keys == "newer" else None)
    return mod.requests


# Values that differ from run to run.
VOLATILE = ("started_at", "timestamp", "duration", "estimated_completion")


def normalized(requests, drop=VOLATILE):
    """requests with volatile values replaced by their presence, keeping
    paths, keys, key order and every other value."""
    out = []
    for method, path, body in requests:
        if isinstance(body, dict):
            body = [(k, ("<set>" if body[k] is not None else None) if k in drop else body[k]) for k in body]
        out.append((method, path, body))
    return out

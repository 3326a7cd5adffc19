"""MonitoringClient: queued, non-blocking reporting to a Muster server.

See the package docstring for the public API and what it sends.
"""

import atexit
import enum
import http.client
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
import weakref
from datetime import date, datetime, timezone
from urllib.parse import quote, urlsplit

from ._outbox import OTHER, STATUS, Item, Outbox

__all__ = ["MonitoringClient", "DEFAULT_BASE_URL", "VERSION"]

VERSION = "0.1.0"

DEFAULT_BASE_URL = "http://localhost:8000"

# Defaults of the MonitoringClient keyword arguments.
DEFAULT_TIMEOUT = 5.0  # seconds per request, as the deployed scripts used
DEFAULT_QUEUE_SIZE = 1024
DEFAULT_MAX_ATTEMPTS = 3  # for answers 5xx, 408 and 429
DEFAULT_EXIT_TIMEOUT = 2.0  # seconds the flush at exit may take
BACKOFF_BASE = 0.1
BACKOFF_MAX = 5.0
# An idle sender thread without heartbeats ends after this long; the next
# update starts a new one.
IDLE_EXIT = 30.0

_WORKER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
_STATES = ("running", "paused", "idle", "completed", "error", "stale")

log = logging.getLogger("muster_client")
log.addHandler(logging.NullHandler())

# Every client, so that the flush at exit and fork handling reach them all.
_clients = weakref.WeakSet()
_clients_lock = threading.Lock()


def _now_iso():
    return datetime.now(timezone.utc).isoformat()


def _iso(value):
    """A time as the ISO-8601 text the server accepts; None stays None.

    Naive datetimes are taken as local time, as datetime.astimezone does.
    Numbers are Unix seconds; strings pass through.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.astimezone()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        return datetime.fromtimestamp(value, timezone.utc).isoformat()
    return str(value)


def _count(value):
    """A count the server accepts: a whole number, at least 0."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(f) or f < 0:
        return 0
    return int(f)


def _number(value, upper=None):
    """A finite float of at least 0, at most upper when given."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(f) or f < 0:
        return 0.0
    if upper is not None and f > upper:
        return float(upper)
    return f


def _percent(value):
    return _number(value, 100.0)


def _text(value):
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _json_default(obj):
    if isinstance(obj, enum.Enum):
        return obj.value if isinstance(obj.value, (str, int, float)) else obj.name
    if isinstance(obj, (datetime, date)):
        return _iso(obj)
    for name in ("to_dict", "_asdict"):
        fn = getattr(obj, name, None)
        if callable(fn):
            return fn()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _encode(body):
    return json.dumps(body, default=_json_default).encode("utf-8")


# Outcomes of one delivery attempt.
_OK, _REJECTED, _RETRY, _UNREACHABLE = "ok", "rejected", "retry", "unreachable"


class MonitoringClient(object):
    """Reports one pipeline process's monitoring data to Muster.

    Every reporting method encodes its body, puts it on a bounded in-memory
    queue and returns at once; a daemon thread delivers the queue in order.
    They return True when the update was accepted for delivery and False
    when it was not (monitoring disabled, client closed, a body that cannot
    be encoded as JSON, an invalid worker id); they never raise.

    Keyword arguments beyond the deployed module's two:

    - ``timeout``: seconds each HTTP request may wait on the network
      (connect, and each read); default 5.
    - ``queue_size``: updates that may wait for the server before the oldest
      are dropped; default 1024, at least 2.
    - ``max_attempts``: deliveries tried for an update the server answers
      with 5xx, 408 or 429 before it is given up; default 3. While the
      server cannot be reached at all, updates wait in the queue instead.
    - ``heartbeat_interval``: seconds between heartbeats, None (default)
      for none; heartbeats need a worker id.
    - ``worker_type``: stated in heartbeats and, unless a call says
      otherwise, in log lines; default None.
    - ``exit_timeout``: seconds the flush at interpreter exit may take;
      default 2.
    - ``token``: sent as ``Authorization: Bearer <token>`` on every request,
      for a server started with ``--auth-token``; default None.
    """

    def __init__(self, base_url=DEFAULT_BASE_URL, worker_id=None, timeout=DEFAULT_TIMEOUT,
                 queue_size=DEFAULT_QUEUE_SIZE, max_attempts=DEFAULT_MAX_ATTEMPTS,
                 heartbeat_interval=None, worker_type=None, exit_timeout=DEFAULT_EXIT_TIMEOUT, token=None):
        self.base_url = base_url
        self.worker_id = worker_id if worker_id else None
        self.worker_type = worker_type
        self.enabled = True
        self.timeout = _number(timeout) or DEFAULT_TIMEOUT
        self.max_attempts = max(1, _count(max_attempts))
        self.exit_timeout = _number(exit_timeout)
        self._queue_size = queue_size
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "muster-client-python/" + VERSION,
        }
        if token:
            self._headers["Authorization"] = "Bearer " + str(token).strip()
        self._usable = True
        self._scheme, self._host, self._port, self._prefix = "http", "localhost", 8000, ""
        try:
            self._parse_base_url(base_url)
        except Exception as exc:  # never raise into the pipeline
            log.warning("muster_client: unusable base_url %r: %s; monitoring is off", base_url, exc)
            self._usable = False
        if self.worker_id is not None and not _WORKER_ID.match(str(self.worker_id)):
            log.warning("muster_client: worker id %r is not 1-253 characters of A-Z a-z 0-9 . _ : -; "
                        "monitoring is off", self.worker_id)
            self._usable = False
        self._worker_path = None
        if self._usable and self.worker_id is not None:
            self._worker_path = "%s/api/monitoring/worker/%s" % (self._prefix, quote(str(self.worker_id), safe=""))
        self._heartbeat_interval = None
        self._run_started_at = None  # started_at of the running extraction
        self._run_diocese = None
        self._reset()
        if heartbeat_interval:
            self.start_heartbeats(heartbeat_interval)
        with _clients_lock:
            _clients.add(self)

    def _parse_base_url(self, base_url):
        url = str(base_url).strip()
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("scheme must be http or https")
        if not parts.hostname:
            raise ValueError("no host")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")

    def _reset(self):
        """(Re)creates the queue, lock and sender state: at construction and
        in a child process after fork (the parent's thread does not exist
        there, and the parent delivers what it queued itself)."""
        old = getattr(self, "_conn", None)
        if old is not None:
            try:
                old.close()  # the inherited copy only; the parent's socket stays open
            except Exception:
                pass
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the sender waits here
        self._done = threading.Condition(self._lock)  # flush waits here
        self._outbox = Outbox(self._queue_size)
        self._seq = 0
        self._inflight = None
        self._thread = None
        self._closing = False
        self._closed = False
        self._conn = None
        self._backoff = 0  # consecutive failed attempts
        self._next_attempt = 0.0  # monotonic time before which the sender waits
        self._next_heartbeat = 0.0
        self._reachable = True
        self._counts = {"sent": 0, "rejected": 0, "failed": 0, "retries": 0,
                        "transport_errors": 0, "heartbeats": 0}

    # ------------------------------------------------------------------
    # Routing

    def _path(self, kind):
        """Where an update of kind goes: the worker's path when the client
        has a worker id (every kind), else the legacy path."""
        if self._worker_path is not None:
            return "%s/%s" % (self._worker_path, kind)
        return "%s/api/monitoring/%s" % (self._prefix, kind)

    # ------------------------------------------------------------------
    # The deployed module's API

    def enable_monitoring(self):
        """Turns reporting on (the default)."""
        self.enabled = True
        return True

    def disable_monitoring(self):
        """Turns reporting off: later calls return False and send nothing."""
        self.enabled = False
        return True

    def update_extraction_status(self, status, current_diocese=None, parishes_processed=0, total_parishes=0,
                                 success_rate=0.0, progress_percentage=0.0, started_at=None,
                                 estimated_completion=None):
        """Replaces the extraction status. The whole object is sent, null for
        absent values. A running or paused status without started_at gets
        the time the current run started (kept until the status leaves
        running/paused or the diocese changes)."""
        try:
            if isinstance(status, enum.Enum):
                status = status.value if isinstance(status.value, str) else status.name
            state = str(status).lower() if status is not None else "idle"
            if state in ("running", "paused"):
                if self._run_started_at is None or current_diocese != self._run_diocese:
                    self._run_started_at = _now_iso()
                    self._run_diocese = current_diocese
                if started_at is not None:
                    self._run_started_at = _iso(started_at)
                started = self._run_started_at
            else:
                self._run_started_at = self._run_diocese = None
                started = _iso(started_at)
            body = {
                "status": state,
                "current_diocese": _text(current_diocese),
                "parishes_processed": _count(parishes_processed),
                "total_parishes": _count(total_parishes),
                "success_rate": _percent(success_rate),
                "progress_percentage": _percent(progress_percentage),
                "estimated_completion": _iso(estimated_completion),
                "started_at": started,
            }
            return self._enqueue(STATUS, "extraction_status", body)
        except Exception:
            log.debug("muster_client: update_extraction_status failed", exc_info=True)
            return False

    def update_circuit_breakers(self, breakers):
        """Sends breakers, a dict of name -> breaker dict (state,
        total_requests, total_successes, total_failures, total_blocked,
        success_rate as a number or "95.6%"). The server merges by name."""
        try:
            if not isinstance(breakers, dict):
                return False
            return self._enqueue(OTHER, "circuit_breakers", breakers)
        except Exception:
            log.debug("muster_client: update_circuit_breakers failed", exc_info=True)
            return False

    def update_performance_metrics(self, parishes_per_minute=0.0, queue_size=0, pool_utilization=0.0,
                                   total_requests=0, successful_requests=0):
        """Replaces the performance metrics."""
        try:
            body = {
                "parishes_per_minute": _number(parishes_per_minute),
                "queue_size": _count(queue_size),
                "pool_utilization": _percent(pool_utilization),
                "total_requests": _count(total_requests),
                "successful_requests": _count(successful_requests),
            }
            return self._enqueue(OTHER, "performance", body)
        except Exception:
            log.debug("muster_client: update_performance_metrics failed", exc_info=True)
            return False

    def report_error(self, error_type, message, diocese=None, severity="error"):
        """Reports an error event."""
        try:
            body = {
                "type": _text(error_type) or "",
                "message": _text(message) or "",
                "diocese": _text(diocese),
                "severity": _text(severity) or "error",
            }
            return self._enqueue(OTHER, "error", body)
        except Exception:
            log.debug("muster_client: report_error failed", exc_info=True)
            return False

    def report_extraction_complete(self, diocese_name, parishes_extracted=0, success_rate=0.0, duration=0.0,
                                   status="completed", parish_name=None, parish_url=None, parish_address=None,
                                   schedules_found=None, mass_times=None, url=None, source_url=None,
                                   address=None, **extra):
        """Reports a completed extraction of a diocese or, with parish_name,
        of one parish (parish_url, parish_address, schedules_found,
        mass_times; url/source_url and address are accepted as the deployed
        module's aliases). The body carries the client's timestamp. Other
        keyword arguments are sent as they are (the server keeps them as
        attributes)."""
        try:
            body = {
                "diocese_name": _text(diocese_name) or "",
                "duration": _number(duration),
                "status": _text(status) or "completed",
                "timestamp": _now_iso(),
            }
            parish_url = parish_url or url or source_url
            parish_address = parish_address or address
            if parish_name is not None:
                body["parish_name"] = _text(parish_name)
                if parish_url is not None:
                    body["parish_url"] = _text(parish_url)
                if parish_address is not None:
                    body["parish_address"] = _text(parish_address)
                if schedules_found is not None:
                    body["schedules_found"] = _count(schedules_found)
                if mass_times is not None:
                    body["mass_times"] = mass_times if isinstance(mass_times, str) else \
                        ", ".join(str(m) for m in mass_times)
                if parishes_extracted:
                    body["parishes_extracted"] = _count(parishes_extracted)
                if success_rate:
                    body["success_rate"] = _percent(success_rate)
            else:
                body["parishes_extracted"] = _count(parishes_extracted)
                body["success_rate"] = _percent(success_rate)
            for key, value in extra.items():
                if key not in body and key != "worker_id":
                    body[key] = value
            return self._enqueue(OTHER, "extraction_complete", body)
        except Exception:
            log.debug("muster_client: report_extraction_complete failed", exc_info=True)
            return False

    def send_log(self, message, level="INFO", module="extraction", worker_type=None):
        """Sends a log line. worker_type defaults to the client's."""
        try:
            body = {"message": _text(message) or "", "level": _text(level) or "INFO",
                    "module": _text(module) or ""}
            wtype = worker_type if worker_type is not None else self.worker_type
            if wtype is not None:
                body["worker_type"] = _text(wtype)
            return self._enqueue(OTHER, "log", body)
        except Exception:
            log.debug("muster_client: send_log failed", exc_info=True)
            return False

    # The deployed module's convenience methods. The message texts are the
    # ones its dashboards already show.

    def extraction_started(self, diocese_name, total_parishes=0, started_at=None):
        """A running status with nothing processed yet, and a log line."""
        total = _count(total_parishes)
        ok = self.update_extraction_status("running", current_diocese=diocese_name, parishes_processed=0,
                                           total_parishes=total, success_rate=0.0, progress_percentage=0.0,
                                           started_at=started_at or _now_iso())
        logged = self.send_log("Started extraction for %s (%d parishes)" % (diocese_name, total), "INFO")
        return ok and logged

    def extraction_progress(self, diocese_name, processed, total, success_rate=0.0, started_at=None,
                            estimated_completion=None):
        """A running status: processed of total parishes done."""
        processed, total = _count(processed), _count(total)
        progress = processed * 100.0 / total if total else 0.0
        return self.update_extraction_status("running", current_diocese=diocese_name,
                                             parishes_processed=processed, total_parishes=total,
                                             success_rate=success_rate, progress_percentage=progress,
                                             started_at=started_at, estimated_completion=estimated_completion)

    def extraction_finished(self, diocese_name, parishes_processed, success_rate=0.0, duration=0.0,
                            status="completed"):
        """An idle status, the completion, and a log line."""
        idle = self.update_extraction_status("idle")
        done = self.report_extraction_complete(diocese_name, parishes_processed, success_rate, duration,
                                               status=status)
        rate = _percent(success_rate)
        if status == "completed":
            text = "\u2705 Completed %s: %d parishes, %.1f%% success" % (diocese_name, _count(parishes_processed), rate)
            logged = self.send_log(text, "INFO")
        else:
            text = "\u274c Failed %s: %d parishes, %.1f%% success" % (diocese_name, _count(parishes_processed), rate)
            logged = self.send_log(text, "ERROR")
        return idle and done and logged

    def circuit_breaker_opened(self, breaker_name, reason=""):
        """A CircuitBreakerOpen warning and a log line."""
        err = self.report_error("CircuitBreakerOpen",
                                "Circuit breaker '%s' opened: %s" % (breaker_name, reason), None, "warning")
        logged = self.send_log("\U0001f6ab Circuit breaker '%s' OPEN: %s" % (breaker_name, reason), "WARNING")
        return err and logged

    def circuit_breaker_closed(self, breaker_name):
        """A log line saying the breaker recovered."""
        return self.send_log("\U0001f7e2 Circuit breaker '%s' CLOSED - service recovered" % (breaker_name,), "INFO")

    def performance_update(self, parishes_per_minute=0.0, queue_size=0, pool_utilization=0.0,
                           total_requests=0, successful_requests=0):
        """Same as update_performance_metrics."""
        return self.update_performance_metrics(parishes_per_minute, queue_size, pool_utilization,
                                               total_requests, successful_requests)

    # ------------------------------------------------------------------
    # Additions

    def heartbeat(self, worker_type=None):
        """Queues one heartbeat (needs a worker id)."""
        try:
            if self._worker_path is None:
                return False
            wtype = worker_type if worker_type is not None else self.worker_type
            return self._enqueue(OTHER, "heartbeat", {"worker_type": _text(wtype)} if wtype else {})
        except Exception:
            return False

    def start_heartbeats(self, interval=30.0, worker_type=None):
        """Sends a heartbeat every interval seconds from the sender thread
        while it has nothing else to send (anything on the worker's path is
        a sign of life too). Needs a worker id; returns False without one."""
        try:
            interval = _number(interval)
            if self._worker_path is None or interval <= 0:
                return False
            if worker_type is not None:
                self.worker_type = worker_type
            with self._lock:
                self._heartbeat_interval = interval
                self._next_heartbeat = time.monotonic()
                self._ensure_sender()
                self._wake.notify()
            return True
        except Exception:
            return False

    def stop_heartbeats(self):
        with self._lock:
            self._heartbeat_interval = None
            self._wake.notify()
        return True

    def flush(self, timeout=5.0):
        """Waits up to timeout seconds for everything accepted before the
        call to be delivered, retrying at once a server that was backed off.
        Returns True when all of it was delivered, False when the time ran
        out or some of it was dropped, refused or given up. Never raises."""
        try:
            deadline = time.monotonic() + max(_number(timeout), 0.0)
            with self._lock:
                if self._pid != os.getpid():
                    return True
                target = self._seq
                before = self._losses()
                self._next_attempt = 0.0
                self._wake.notify()
                while not self._resolved(target):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._done.wait(left)
                return self._losses() == before
        except Exception:
            return False

    def close(self, timeout=None):
        """Flushes (up to timeout, default exit_timeout) and stops the sender.
        While closing, the sender does not wait between attempts: whatever
        the server cannot take at once is given up. Later calls return False.
        Returns what flush returns."""
        if timeout is None:
            timeout = self.exit_timeout
        try:
            self._begin_close()
            return self._finish_close(time.monotonic() + max(_number(timeout), 0.0))
        except Exception:
            return False

    def _begin_close(self):
        with self._lock:
            if self._closed or self._pid != os.getpid():
                return
            self._closing = True
            self._heartbeat_interval = None
            self._next_attempt = 0.0
            self._wake.notify()

    def _finish_close(self, deadline):
        with self._lock:
            if self._closed or self._pid != os.getpid():
                return True
        ok = self.flush(max(deadline - time.monotonic(), 0.0))
        with self._lock:
            self._closed = True
            self._wake.notify()
        return ok

    def stats(self):
        """Counters: queued (waiting now), in_flight, sent, dropped (oldest
        dropped because the queue was full), superseded (a status replaced by
        a newer one before it was sent), rejected (4xx answers, not retried),
        failed (given up after retries or at close), retries,
        transport_errors (connections refused, timeouts, resets),
        heartbeats, reachable."""
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._outbox)
            out["in_flight"] = 1 if self._inflight is not None else 0
            out["dropped"] = self._outbox.dropped
            out["superseded"] = self._outbox.superseded
            out["reachable"] = self._reachable
            return out

    @property
    def dropped_count(self):
        """How many updates were dropped because the queue was full."""
        return self._outbox.dropped

    @classmethod
    def from_env(cls, environ=None, **kwargs):
        """A client for $MONITORING_URL (default http://localhost:8000) as
        $WORKER_ID (legacy paths when unset or empty), with $WORKER_TYPE,
        and the bearer token in $MONITORING_TOKEN or in the file named by
        $MONITORING_TOKEN_FILE (a mounted secret). With a worker id,
        heartbeats every 30 s unless heartbeat_interval says otherwise.
        Keyword arguments win over the environment."""
        env = os.environ if environ is None else environ
        if "token" not in kwargs:
            token = env.get("MONITORING_TOKEN") or None
            if token is None and env.get("MONITORING_TOKEN_FILE"):
                try:
                    with open(env["MONITORING_TOKEN_FILE"]) as f:
                        token = f.read().strip() or None
                except OSError as exc:
                    log.warning("muster_client: cannot read MONITORING_TOKEN_FILE: %s", exc)
            kwargs["token"] = token
        kwargs.setdefault("base_url", env.get("MONITORING_URL") or DEFAULT_BASE_URL)
        kwargs.setdefault("worker_id", env.get("WORKER_ID") or None)
        kwargs.setdefault("worker_type", env.get("WORKER_TYPE") or None)
        if kwargs["worker_id"]:
            kwargs.setdefault("heartbeat_interval", 30.0)
        return cls(**kwargs)

    def __repr__(self):
        return "MonitoringClient(base_url=%r, worker_id=%r)" % (self.base_url, self.worker_id)

    # ------------------------------------------------------------------
    # Queue side (caller's thread): microseconds

    def _enqueue(self, kind, name, body):
        if not self.enabled or not self._usable:
            return False
        data = _encode(body)
        path = self._path(name)
        with self._lock:
            if self._pid != os.getpid():
                self._after_fork_locked()
            if self._closed or self._closing:
                return False
            self._seq += 1
            self._outbox.push(Item(self._seq, STATUS if kind == STATUS else OTHER, path, data))
            self._ensure_sender()
            self._wake.notify()
        return True

    def _after_fork_locked(self):
        # Called in a child process that inherited a held-or-free lock from
        # a parent thread; _reset replaces it.
        self._reset()

    def _ensure_sender(self):
        if self._thread is None:
            t = threading.Thread(target=self._run, name="muster-client-sender", daemon=True)
            self._thread = t
            t.start()

    def _losses(self):
        c = self._counts
        return (self._outbox.dropped, c["rejected"], c["failed"])

    def _resolved(self, target):
        if self._inflight is not None and self._inflight.seq <= target:
            return False
        oldest = self._outbox.oldest_seq()
        return oldest is None or oldest > target

    # ------------------------------------------------------------------
    # Sender side (daemon thread)

    def _run(self):
        try:
            self._loop()
        except Exception:  # pragma: no cover - a bug; keep the process alive
            log.exception("muster_client: sender stopped")
            with self._lock:
                self._thread = None
                self._done.notify_all()

    def _loop(self):
        idle_since = time.monotonic()
        while True:
            beat = False
            with self._lock:
                while True:
                    now = time.monotonic()
                    if self._closed or (self._closing and len(self._outbox) == 0):
                        self._thread = None
                        self._done.notify_all()
                        self._close_conn()
                        return
                    waits = []
                    if len(self._outbox):
                        if self._closing or now >= self._next_attempt:
                            item = self._outbox.take()
                            self._inflight = item
                            break
                        waits.append(self._next_attempt - now)
                    if self._heartbeat_interval:
                        if now >= self._next_heartbeat and now >= self._next_attempt:
                            beat = True
                            item = None
                            break
                        waits.append(max(self._next_heartbeat, self._next_attempt) - now)
                    elif not len(self._outbox):
                        if now - idle_since >= IDLE_EXIT:
                            self._thread = None
                            self._close_conn()
                            return
                        waits.append(IDLE_EXIT - (now - idle_since))
                    self._wake.wait(max(min(waits), 0.001))
            if beat:
                self._send_heartbeat()
                continue
            outcome, detail = self._deliver(item.path, item.body)
            idle_since = time.monotonic()
            with self._lock:
                self._inflight = None
                self._settle(item, outcome, detail)
                self._done.notify_all()

    def _settle(self, item, outcome, detail):
        c = self._counts
        if outcome in (_OK, _REJECTED):
            if not self._reachable:
                log.warning("muster_client: server %s:%s reachable again", self._host, self._port)
            self._reachable = True
            self._backoff = 0
            self._next_attempt = 0.0
            self._push_heartbeat()
            if outcome == _OK:
                c["sent"] += 1
            else:
                c["rejected"] += 1
                if c["rejected"] == 1 or c["rejected"] % 100 == 0:
                    log.warning("muster_client: server refused %s: %s (%d refused so far)",
                                item.path, detail, c["rejected"])
            return
        self._backoff += 1
        delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** min(self._backoff - 1, 16)))
        self._next_attempt = time.monotonic() + delay * (0.5 + random.random() / 2)
        if outcome == _UNREACHABLE:
            c["transport_errors"] += 1
            if self._reachable:
                log.warning("muster_client: server %s:%s unreachable (%s); queueing updates",
                            self._host, self._port, detail)
            self._reachable = False
            if self._closing:
                # Shutting down and the server is not there: give up now.
                c["failed"] += 1 + self._outbox.clear()
                return
            c["retries"] += 1
            self._outbox.requeue(item)
            return
        # _RETRY: the server answered, but with a 5xx, 408 or 429.
        item.attempts += 1
        if item.attempts >= self.max_attempts or self._closing:
            c["failed"] += 1
            log.warning("muster_client: giving up %s after %d attempts: %s", item.path, item.attempts, detail)
            return
        c["retries"] += 1
        self._outbox.requeue(item)

    def _push_heartbeat(self):
        if self._heartbeat_interval:
            self._next_heartbeat = time.monotonic() + self._heartbeat_interval

    def _send_heartbeat(self):
        body = _encode({"worker_type": self.worker_type} if self.worker_type else {})
        outcome, _ = self._deliver(self._path("heartbeat"), body)
        with self._lock:
            if outcome == _OK:
                self._counts["heartbeats"] += 1
                self._reachable = True
            elif outcome == _UNREACHABLE:
                self._counts["transport_errors"] += 1
            if self._heartbeat_interval:
                self._next_heartbeat = time.monotonic() + self._heartbeat_interval

    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _close_conn(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _deliver(self, path, body):
        """One POST; a kept-alive connection the server closed meanwhile is
        retried once on a new connection."""
        for fresh in (self._conn is None, True):
            try:
                conn = self._connection()
                conn.request("POST", path, body=body, headers=self._headers)
                resp = conn.getresponse()
                data = resp.read()
                code = resp.status
                if resp.will_close:
                    self._close_conn()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._close_conn()
                if not fresh:
                    continue
                return _UNREACHABLE, repr(exc)
            except (socket.timeout, OSError, http.client.HTTPException) as exc:
                self._close_conn()
                return _UNREACHABLE, repr(exc)
            except Exception as exc:  # pragma: no cover - defensive
                self._close_conn()
                return _UNREACHABLE, repr(exc)
            if 200 <= code < 300:
                return _OK, None
            detail = "HTTP %d %s" % (code, data[:300].decode("utf-8", "replace"))
            if code >= 500 or code in (408, 429):
                self._close_conn()
                return _RETRY, detail
            return _REJECTED, detail
        return _UNREACHABLE, "connection closed"  # pragma: no cover


def _flush_all_at_exit():
    """Flushes every client within its exit_timeout. The senders work in
    parallel; no thread is started here (Python 3.12 refuses new threads at
    shutdown)."""
    with _clients_lock:
        clients = [c for c in _clients if c._pid == os.getpid()]
    start = time.monotonic()
    for c in clients:
        c._begin_close()
    for c in clients:
        c._finish_close(start + c.exit_timeout)


def _after_fork_in_child():
    for c in list(_clients):
        try:
            c._reset()
        except Exception:
            pass


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


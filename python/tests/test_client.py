"""muster_client on its own: routing, bodies, the queue, and never stalling
the pipeline with the server up, down, hanging or refusing."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import warnings

import muster_client
import muster_client.monitoring
from muster_client import ExtractionMonitoring, MonitoringClient
from muster_client._outbox import OTHER, STATUS, Item, Outbox
from support import (PYTHON_DIR, HangingServer, Musterd, RecordingServer, down_url, free_port, lookup,
                     musterd_has_flag)

# Timing bounds. "Microseconds per call": 400 calls must take well under a
# second with the server down or hanging.
CALLS = 400
CALLS_BOUND = 0.5  # seconds for all of them
PROMPT = 0.25  # slack allowed over a requested timeout


def report(label, seconds, calls=None):
    per = " (%.1f us per call)" % (seconds / calls * 1e6) if calls else ""
    sys.stderr.write("\n    [timing] %s: %.4f s%s\n" % (label, seconds, per))


def fire(client, n=CALLS):
    """n mixed calls, as a pipeline makes them; returns (seconds, results)."""
    results = []
    start = time.perf_counter()
    for i in range(n):
        k = i % 5
        if k == 0:
            r = client.update_extraction_status("running", "Diocese of Erie", i, n, 90.0, i * 100.0 / n)
        elif k == 1:
            r = client.send_log("parish %d done" % i, "INFO", "extraction")
        elif k == 2:
            r = client.update_circuit_breakers({"webdriver_requests": {"state": "CLOSED", "total_requests": i,
                                                                       "total_successes": i, "total_failures": 0,
                                                                       "total_blocked": 0, "success_rate": 100.0}})
        elif k == 3:
            r = client.update_performance_metrics(10.5, 3, 0.4, i, i)
        else:
            r = client.report_error("ParishError", "parish %d failed" % i, "Diocese of Erie", "warning")
        results.append(r)
    return time.perf_counter() - start, results


def kinds(requests):
    return [p.rsplit("/", 1)[1] for _, p, _ in requests]


class OutboxTest(unittest.TestCase):
    """The bounded queue on its own."""

    def test_drops_oldest_and_keeps_latest_status(self):
        box = Outbox(8)
        seq = [0]

        def push(kind, name):
            seq[0] += 1
            box.push(Item(seq[0], kind, name, b""))

        push(STATUS, "A")
        for i in range(10):
            push(OTHER, "L%d" % i)
        push(STATUS, "B")
        for i in range(10, 12):
            push(OTHER, "L%d" % i)
        out = []
        while len(box):
            out.append(box.take().path)
        self.assertEqual(out, ["L5", "L6", "L7", "L8", "L9", "B", "L10", "L11"])
        self.assertEqual((box.dropped, box.superseded), (5, 1))

    def test_status_is_never_the_one_dropped(self):
        box = Outbox(2)
        box.push(Item(1, STATUS, "S", b""))
        for i in range(5):
            box.push(Item(2 + i, OTHER, "L%d" % i, b""))
        self.assertEqual([box.take().path, box.take().path], ["S", "L4"])
        self.assertEqual(box.dropped, 4)

    def test_requeue_goes_first_and_loses_to_newer_status(self):
        box = Outbox(3)
        box.push(Item(1, STATUS, "S1", b""))
        box.push(Item(2, OTHER, "L1", b""))
        s1 = box.take()
        box.push(Item(3, STATUS, "S2", b""))
        box.requeue(s1)  # superseded while in flight
        l1 = box.take()
        box.push(Item(4, OTHER, "L2", b""))
        box.push(Item(5, OTHER, "L3", b""))
        box.requeue(l1)  # full: the requeued item is the oldest, so it goes
        self.assertEqual([box.take().path for _ in range(len(box))], ["S2", "L2", "L3"])
        self.assertEqual((box.dropped, box.superseded), (1, 1))


class RoutingTest(unittest.TestCase):
    """Paths and bodies, against a recording server."""

    def every_kind(self, client):
        calls = [
            client.update_extraction_status("running", "Diocese of Erie", 3, 10, 66.7, 30.0,
                                            started_at="2026-01-05T10:00:00+00:00"),
            client.update_circuit_breakers({"b": {"state": "open", "total_requests": 10, "success_rate": "90%"}}),
            client.update_performance_metrics(12.5, 3, 0.4, 10, 9),
            client.report_error("ExtractionError", "boom", "Diocese of Erie", "error"),
            client.report_extraction_complete("Diocese of Erie", 10, 90.0, 12.5),
            client.send_log("hello", "INFO", "extraction", "schedule"),
        ]
        self.assertEqual(calls, [True] * 6)
        return ["extraction_status", "circuit_breakers", "performance", "error", "extraction_complete", "log"]

    def test_worker_id_sends_every_kind_to_the_worker_paths(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url, worker_id="pod-7f9c2")
            names = self.every_kind(client)
            self.assertTrue(client.heartbeat("schedule"))
            self.assertTrue(client.flush(5))
            got = server.requests
        self.assertEqual([(m, p) for m, p, _ in got],
                         [("POST", "/api/monitoring/worker/pod-7f9c2/" + n) for n in names + ["heartbeat"]])
        bodies = [b for _, _, b in got]
        self.assertEqual(list(bodies[0]), ["status", "current_diocese", "parishes_processed", "total_parishes",
                                           "success_rate", "progress_percentage", "estimated_completion",
                                           "started_at"])
        self.assertEqual(bodies[0]["started_at"], "2026-01-05T10:00:00+00:00")
        self.assertIsNone(bodies[0]["estimated_completion"])
        self.assertEqual(bodies[1], {"b": {"state": "open", "total_requests": 10, "success_rate": "90%"}})
        self.assertEqual(bodies[2], {"parishes_per_minute": 12.5, "queue_size": 3, "pool_utilization": 0.4,
                                     "total_requests": 10, "successful_requests": 9})
        self.assertEqual(bodies[3], {"type": "ExtractionError", "message": "boom", "diocese": "Diocese of Erie",
                                     "severity": "error"})
        self.assertEqual({k: v for k, v in bodies[4].items() if k != "timestamp"},
                         {"diocese_name": "Diocese of Erie", "parishes_extracted": 10, "success_rate": 90.0,
                          "duration": 12.5, "status": "completed"})
        self.assertEqual(bodies[5], {"message": "hello", "level": "INFO", "module": "extraction",
                                     "worker_type": "schedule"})
        self.assertEqual(bodies[6], {"worker_type": "schedule"})

    def test_no_worker_id_uses_the_legacy_paths(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url)
            names = self.every_kind(client)
            self.assertFalse(client.heartbeat())
            self.assertFalse(client.start_heartbeats(1))
            self.assertTrue(client.flush(5))
            got = server.requests
        self.assertEqual([p for _, p, _ in got], ["/api/monitoring/" + n for n in names])
        self.assertEqual(got[5][2], {"message": "hello", "level": "INFO", "module": "extraction",
                                     "worker_type": "schedule"})

    def test_base_url_path_prefix_and_defaults(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url + "/muster/", worker_id="w1")
            self.assertTrue(client.send_log("x"))
            self.assertTrue(client.update_extraction_status("idle"))
            self.assertTrue(client.flush(5))
            got = server.requests
        self.assertEqual(got[0], ("POST", "/muster/api/monitoring/worker/w1/log",
                                  {"message": "x", "level": "INFO", "module": "extraction"}))
        self.assertEqual(got[1][2], {"status": "idle", "current_diocese": None, "parishes_processed": 0,
                                     "total_parishes": 0, "success_rate": 0.0, "progress_percentage": 0.0,
                                     "estimated_completion": None, "started_at": None})

    def test_parish_level_completion(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url, worker_id="schedule-pod-1")
            self.assertTrue(client.report_extraction_complete(
                "Diocese of Boston", duration=3.2, parish_name="St. Mary", url="https://parish.example/st-mary",
                address="1 Main St", schedules_found=2, mass_times=["Sun 9:00", "11:00"]))
            self.assertTrue(client.flush(5))
            body = server.requests[0][2]
        self.assertEqual({k: v for k, v in body.items() if k != "timestamp"},
                         {"diocese_name": "Diocese of Boston", "duration": 3.2, "status": "completed",
                          "parish_name": "St. Mary", "parish_url": "https://parish.example/st-mary",
                          "parish_address": "1 Main St", "schedules_found": 2, "mass_times": "Sun 9:00, 11:00"})

    def test_values_made_acceptable(self):
        """Out-of-range numbers are clamped, odd types encoded, so an update
        is not refused for one value."""
        import enum
        from datetime import datetime

        class State(enum.Enum):
            OPEN = "OPEN"

        with RecordingServer() as server:
            client = MonitoringClient(server.url)
            self.assertTrue(client.update_extraction_status("RUNNING", "D", -3, "12", 100.0000001, float("nan"),
                                                            started_at=datetime(2026, 1, 5, 10, 0)))
            self.assertTrue(client.update_circuit_breakers({"b": {"state": State.OPEN, "since": datetime(2026, 1, 5)}}))
            self.assertTrue(client.flush(5))
            status, breakers = server.requests[0][2], server.requests[1][2]
        self.assertEqual((status["status"], status["parishes_processed"], status["total_parishes"]), ("running", 0, 12))
        self.assertEqual((status["success_rate"], status["progress_percentage"]), (100.0, 0.0))
        self.assertRegex(status["started_at"], r"^2026-01-05T10:00:00[+-]\d\d:\d\d$")
        self.assertEqual(breakers["b"]["state"], "OPEN")

    def test_running_status_keeps_the_start_of_the_run(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url)
            client.update_extraction_status("running", "D1", 1, 5)
            self.assertTrue(client.flush(5))
            time.sleep(0.01)
            client.update_extraction_status("running", "D1", 2, 5)
            self.assertTrue(client.flush(5))
            client.update_extraction_status("running", "D2", 1, 5)
            client.update_extraction_status("idle")
            self.assertTrue(client.flush(5))
            got = [b for _, _, b in server.requests]
        self.assertEqual(got[0]["started_at"], got[1]["started_at"])
        self.assertNotEqual(got[1]["started_at"], got[-2]["started_at"] if len(got) > 3 else None)
        self.assertIsNone(got[-1]["started_at"])


class ResilienceTest(unittest.TestCase):
    """The caller never waits: server down, hanging, failing or refusing."""

    def test_server_down_400_calls(self):
        client = MonitoringClient(down_url(), worker_id="pod-down")
        seconds, results = fire(client)
        report("%d calls, server down" % CALLS, seconds, CALLS)
        self.assertEqual(results, [True] * CALLS)
        self.assertLess(seconds, CALLS_BOUND)
        start = time.monotonic()
        self.assertFalse(client.flush(0.2))
        flushed = time.monotonic() - start
        report("flush(0.2), server down", flushed)
        self.assertLess(flushed, 0.2 + PROMPT)
        stats = client.stats()
        self.assertGreaterEqual(stats["transport_errors"], 1)
        self.assertFalse(stats["reachable"])
        self.assertEqual(stats["sent"], 0)
        start = time.monotonic()
        client.close(1.0)
        closed = time.monotonic() - start
        report("close(1.0), server down", closed)
        self.assertLess(closed, 0.5)  # no backoff while closing: given up at once
        self.assertFalse(client.send_log("after close"))

    def test_server_hangs_400_calls(self):
        with HangingServer() as server:
            client = MonitoringClient(server.url, worker_id="pod-hang", timeout=0.5)
            seconds, results = fire(client)
            report("%d calls, server hanging" % CALLS, seconds, CALLS)
            self.assertEqual(results, [True] * CALLS)
            self.assertLess(seconds, CALLS_BOUND)
            start = time.monotonic()
            self.assertFalse(client.flush(0.3))
            flushed = time.monotonic() - start
            report("flush(0.3), server hanging", flushed)
            self.assertLess(flushed, 0.3 + PROMPT)
            # The request timeout is real: the sender gives up on the hung
            # request after about 0.5 s and goes on.
            deadline = time.monotonic() + 3
            while client.stats()["transport_errors"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(client.stats()["transport_errors"], 1)
            self.assertGreaterEqual(len(server.accepted), 1)
            seconds, results = fire(client, 100)
            self.assertLess(seconds, CALLS_BOUND / 4)
            start = time.monotonic()
            client.close(0.3)
            closed = time.monotonic() - start
            report("close(0.3), server hanging", closed)
            self.assertLess(closed, 0.3 + PROMPT)

    def test_drops_oldest_counted_and_latest_status_kept(self):
        port = free_port()
        client = MonitoringClient("http://127.0.0.1:%d" % port, worker_id="pod-q", queue_size=8)
        client.update_extraction_status("running", "D", 1, 10)
        # Once the first attempt has failed the sender backs off (50 ms at
        # least), so nothing is in flight while the rest is queued.
        deadline = time.monotonic() + 5
        while (client.stats()["transport_errors"] < 1 or client.stats()["in_flight"]) and \
                time.monotonic() < deadline:
            time.sleep(0.001)
        for i in range(10):
            client.send_log("L%d" % i)
        client.update_extraction_status("running", "D", 2, 10)
        for i in range(10, 12):
            client.send_log("L%d" % i)
        stats = client.stats()
        self.assertEqual((stats["dropped"], stats["superseded"]), (5, 1))
        self.assertEqual(client.dropped_count, 5)
        # The server comes up: what survived arrives, in order.
        with RecordingServer(port=port) as server:
            self.assertTrue(client.flush(5))
            got = server.requests
        self.assertEqual([b.get("message", "status %s" % b.get("parishes_processed")) for _, _, b in got],
                         ["L5", "L6", "L7", "L8", "L9", "status 2", "L10", "L11"])
        self.assertTrue(client.stats()["reachable"])
        client.close(1)

    def test_retries_5xx_with_backoff(self):
        def respond(method, path, body, index):
            if index < 2:
                return 503, {"code": 503, "message": "busy"}
            return None

        with RecordingServer(respond) as server:
            client = MonitoringClient(server.url)
            client.send_log("first")
            client.send_log("second")
            self.assertTrue(client.flush(5))
            got = [b["message"] for _, _, b in server.requests]
            stats = client.stats()
        self.assertEqual(got, ["first", "first", "first", "second"])
        self.assertEqual((stats["retries"], stats["sent"], stats["failed"]), (2, 2, 0))

    def test_gives_up_after_max_attempts(self):
        def respond(method, path, body, index):
            if body.get("message") == "poison":
                return 500, {"code": 500, "message": "internal"}
            return None

        with RecordingServer(respond) as server:
            client = MonitoringClient(server.url, max_attempts=3)
            client.send_log("poison")
            client.send_log("after")
            self.assertFalse(client.flush(5))  # something was given up
            got = [b["message"] for _, _, b in server.requests]
            stats = client.stats()
        self.assertEqual(got, ["poison"] * 3 + ["after"])
        self.assertEqual((stats["failed"], stats["sent"]), (1, 1))

    def test_4xx_is_not_retried(self):
        def respond(method, path, body, index):
            if path.endswith("/error"):
                return 400, {"code": 400, "field": "error.type", "reason": "bad"}
            return None

        with RecordingServer(respond) as server:
            client = MonitoringClient(server.url)
            client.report_error("X", "y")
            client.send_log("after")
            self.assertFalse(client.flush(5))
            self.assertEqual(kinds(server.requests), ["error", "log"])
            self.assertEqual(client.stats()["rejected"], 1)
            client.send_log("again")
            self.assertTrue(client.flush(5))


class RealServerTest(unittest.TestCase):
    """Against musterd."""

    @classmethod
    def setUpClass(cls):
        cls.server = Musterd().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_heartbeats(self):
        client = MonitoringClient(self.server.url, worker_id="hb-pod", worker_type="schedule",
                                  heartbeat_interval=0.1)
        deadline = time.monotonic() + 5
        while client.stats()["heartbeats"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertGreaterEqual(client.stats()["heartbeats"], 2)
        worker = self.server.get("/api/monitoring/worker/hb-pod")
        self.assertEqual((worker["worker_type"], worker["health"]), ("schedule", "fresh"))
        client.stop_heartbeats()
        client.close(1)

    def test_parish_level_completion_stored(self):
        client = MonitoringClient(self.server.url, worker_id="parish-pod")
        client.report_extraction_complete("Diocese of Boston", duration=3.2, parish_name="St. Mary",
                                          parish_url="https://parish.example/st-mary", parish_address="1 Main St",
                                          schedules_found=2, mass_times="Sun 9:00, 11:00")
        self.assertTrue(client.flush(5))
        worker = self.server.get("/api/monitoring/worker/parish-pod")
        for path, want in [("extraction_history.0.parish_name", "St. Mary"),
                           ("extraction_history.0.parish_url", "https://parish.example/st-mary"),
                           ("extraction_history.0.parish_address", "1 Main St"),
                           ("extraction_history.0.schedules_found", 2),
                           ("extraction_history.0.mass_times", "Sun 9:00, 11:00")]:
            self.assertEqual(lookup(worker, path), want)
        client.close(1)

    def test_refused_update_is_counted_and_the_rest_delivered(self):
        client = MonitoringClient(self.server.url, worker_id="refused-pod")
        client.update_circuit_breakers({"b": {"state": "BROKEN"}})
        client.send_log("still here")
        self.assertFalse(client.flush(5))
        self.assertEqual(client.stats()["rejected"], 1)
        worker = self.server.get("/api/monitoring/worker/refused-pod")
        self.assertEqual(worker["recent_logs"][0]["message"], "still here")
        self.assertEqual(worker["circuit_breakers"], {})
        client.close(1)

    def test_never_raises(self):
        client = MonitoringClient(self.server.url, worker_id="odd-pod")

        class Weird(object):
            def __str__(self):
                raise ValueError("no text")

        results = [
            client.update_extraction_status(None, object(), "x", None, "y", float("inf"), started_at=object()),
            client.update_circuit_breakers(None),
            client.update_circuit_breakers({"b": {"state": "CLOSED", "x": Weird()}}),
            client.update_performance_metrics("fast", -1, 250, None, float("nan")),
            client.report_error(None, None),
            client.report_extraction_complete(None, "many", "most", -5),
            client.send_log(None, None, None, None),
            client.send_log("\udcff lone surrogate"),
            client.extraction_progress("D", "a", 0),
            client.circuit_breaker_opened(None),
        ]
        for r in results:
            self.assertIn(r, (True, False))
        client.flush(5)
        client.close(1)

    def test_calls_with_server_up(self):
        client = MonitoringClient(self.server.url, worker_id="up-pod")
        seconds, results = fire(client)
        report("%d calls, server up" % CALLS, seconds, CALLS)
        self.assertEqual(results, [True] * CALLS)
        self.assertLess(seconds, CALLS_BOUND)
        self.assertTrue(client.flush(10))
        stats = client.stats()
        self.assertEqual(stats["sent"] + stats["superseded"], CALLS)
        self.assertEqual(self.server.get("/api/monitoring/worker/up-pod")["extraction_status"]["parishes_processed"],
                         395)
        client.close(1)

    def test_auth_token(self):
        if not musterd_has_flag("auth-token"):
            self.skipTest("this musterd has no --auth-token")
        with Musterd("--auth-token=s3cret") as server:
            without = MonitoringClient(server.url, worker_id="auth-pod")
            without.send_log("no token")
            self.assertFalse(without.flush(5))
            self.assertEqual(without.stats()["rejected"], 1)
            with_token = MonitoringClient(server.url, worker_id="auth-pod", token="s3cret")
            with_token.send_log("with token")
            self.assertTrue(with_token.flush(5))
            without.close(1)
            with_token.close(1)


class ApiTest(unittest.TestCase):
    def tearDown(self):
        muster_client.monitoring._set_instance(None)

    def test_disable_and_enable(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url)
            self.assertTrue(client.disable_monitoring())
            self.assertFalse(client.send_log("off"))
            self.assertFalse(client.update_extraction_status("running"))
            self.assertTrue(client.enable_monitoring())
            self.assertTrue(client.send_log("on"))
            self.assertTrue(client.flush(5))
            self.assertEqual([b["message"] for _, _, b in server.requests], ["on"])

    def test_module_level_functions_use_the_process_wide_client(self):
        with RecordingServer() as server:
            client = muster_client.get_monitoring_client(server.url, "pw-pod")
            self.assertIs(muster_client.get_monitoring_client(), client)
            self.assertIs(muster_client.get_monitoring_client(server.url), client)
            self.assertIs(ExtractionMonitoring("D", 1).monitoring_client, client)
            self.assertTrue(muster_client.send_log("module level"))
            self.assertTrue(muster_client.extraction_started("D", 3))
            self.assertTrue(muster_client.disable_monitoring())
            self.assertFalse(muster_client.send_log("disabled"))
            self.assertTrue(muster_client.enable_monitoring())
            self.assertTrue(muster_client.flush(5))
            self.assertEqual(kinds(server.requests), ["log", "extraction_status", "log"])
            other = muster_client.get_monitoring_client(server.url, "other-pod")
            self.assertIsNot(other, client)
            self.assertEqual(other.worker_id, "other-pod")
            self.assertIs(muster_client.get_monitoring_client(), other)

    def test_from_env(self):
        with tempfile.NamedTemporaryFile("w", suffix=".token", delete=False) as f:
            f.write("tok3n\n")
        self.addCleanup(os.unlink, f.name)
        env = {"MONITORING_URL": "http://muster.example:8000", "WORKER_ID": "pod-env", "WORKER_TYPE": "discovery",
               "MONITORING_TOKEN_FILE": f.name}
        client = muster_client.client_from_env(env)
        self.assertEqual((client.base_url, client.worker_id, client.worker_type),
                         ("http://muster.example:8000", "pod-env", "discovery"))
        self.assertEqual(client._headers["Authorization"], "Bearer tok3n")
        self.assertIs(muster_client.get_monitoring_client(), client)
        client.close(0)
        legacy = MonitoringClient.from_env({"WORKER_ID": ""})
        self.assertEqual((legacy.base_url, legacy.worker_id), ("http://localhost:8000", None))
        legacy.close(0)

    def test_unusable_configuration_returns_false(self):
        for client in (MonitoringClient("http://127.0.0.1:1", worker_id="bad/id"),
                       MonitoringClient("ftp://example.com")):
            self.assertFalse(client.send_log("x"))
            self.assertFalse(client.update_extraction_status("running"))

    def test_extraction_monitoring_error_path(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url, worker_id="err-pod")
            with self.assertRaises(KeyError):
                with ExtractionMonitoring("Diocese of Erie", 5, client=client) as m:
                    m.update_progress(1, 1)
                    raise KeyError("parish list")
            self.assertTrue(client.flush(5))
            got = server.requests
        # Running statuses may be superseded while they wait; everything
        # else arrives in order, and the idle status before the completion.
        events = [(p.rsplit("/", 1)[1], b) for _, p, b in got if not p.endswith("/extraction_status")]
        self.assertEqual([k for k, _ in events], ["log", "error", "extraction_complete", "log"])
        self.assertEqual(events[1][1], {"type": "ExtractionError", "message": "Extraction failed: 'parish list'",
                                        "diocese": "Diocese of Erie", "severity": "error"})
        self.assertEqual((events[2][1]["status"], events[2][1]["parishes_extracted"]), ("failed", 1))
        self.assertEqual(events[3][1]["level"], "ERROR")
        statuses = [i for i, k in enumerate(kinds(got)) if k == "extraction_status"]
        self.assertEqual(got[statuses[-1]][2]["status"], "idle")
        self.assertLess(statuses[-1], kinds(got).index("extraction_complete"))
        self.assertGreater(statuses[-1], kinds(got).index("error"))

    def test_progress_log_every_fifth_parish(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url)
            with ExtractionMonitoring("D", 12, client=client) as m:
                for i in range(1, 13):
                    self.assertTrue(m.update_progress(i, i))
                    client.flush(5)  # one request at a time: nothing superseded
            self.assertTrue(client.flush(5))
            logs = [b["message"] for _, p, b in server.requests if p.endswith("/log")]
        self.assertEqual(logs, ["Started extraction for D (12 parishes)", "\U0001f4ca Progress: 5/12 parishes (41.7%)",
                                "\U0001f4ca Progress: 10/12 parishes (83.3%)",
                                "\u2705 Completed D: 12 parishes, 100.0% success"])

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_fork_child_gets_its_own_sender(self):
        with RecordingServer() as server:
            client = MonitoringClient(server.url, worker_id="fork-pod")
            client.send_log("parent")
            self.assertTrue(client.flush(5))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
                pid = os.fork()
            if pid == 0:  # child
                ok = client.send_log("child") and client.flush(5)
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(status, 0)
            messages = [b["message"] for _, _, b in server.requests]
        self.assertEqual(messages, ["parent", "child"])


class ExitTest(unittest.TestCase):
    """The flush at interpreter exit, in a child process."""

    def run_child(self, url, body, extra_env=None):
        script = textwrap.dedent("""
            import sys, time
            from muster_client import MonitoringClient
            client = MonitoringClient(%r, worker_id="exit-pod", timeout=5.0, exit_timeout=1.0)
            %s
            sys.stdout.write("%%.6f" %% time.monotonic())
            sys.stdout.flush()
        """) % (url, body)
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.update(extra_env or {})
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        out, err = proc.communicate(timeout=30)
        ended = time.monotonic()
        self.assertEqual(proc.returncode, 0, err.decode())
        return ended - float(out.decode())

    def test_exit_delivers_what_is_queued(self):
        with Musterd() as server:
            seconds = self.run_child(server.url, "for i in range(20): client.send_log('line %d' % i)")
            report("exit with 20 queued, server up", seconds)
            worker = server.get("/api/monitoring/worker/exit-pod")
            self.assertEqual(len(worker["recent_logs"]), 20)
            self.assertEqual(worker["recent_logs"][0]["message"], "line 19")

    def test_exit_with_server_down_is_prompt(self):
        seconds = self.run_child(down_url(), "for i in range(400): client.send_log('line %d' % i)")
        report("exit with 400 queued, server down", seconds)
        self.assertLess(seconds, 0.5)

    def test_exit_with_server_hanging_is_bounded(self):
        with HangingServer() as server:
            seconds = self.run_child(server.url, "for i in range(400): client.send_log('line %d' % i)")
        report("exit with 400 queued, server hanging (exit_timeout=1.0)", seconds)
        self.assertLess(seconds, 1.0 + 0.5)


if __name__ == "__main__":
    unittest.main()

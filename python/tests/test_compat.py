"""Compatibility suite: what the deployed scripts send keeps working.

The fleet script of the captured traffic (three dioceses through
ExtractionMonitoring: start, progress per parish, a log every fifth, finish;
a breaker opening and recovering; Erie's extraction raising) is run twice
for each key set:

- raw: the requests the deployed module sends (tests/deployed.py, checked
  against the captured traffic when ../shared/cases is there) go to a real
  musterd one by one, each answered 200 {"status": "success"};
- client: the same script runs on muster_client, with only the import
  changed.

Then the resulting worker, workers list, aggregate, legacy status document
and the old dashboard's WebSocket messages are checked.
"""

import json
import os
import time
import unittest

import muster_client
import muster_client.monitoring
from deployed import (DEFAULT_BASE_URL, FAILURE, WORKER_ID, deployed_requests, normalized,
                      pipeline_script)
from support import (REPO_DIR, Musterd, RecordingServer, Replayer, WebSocket, WebSocketNotFound,
                     lookup, request)

SHARED_CASES = os.environ.get("MUSTER_SHARED_CASES", os.path.join(os.path.dirname(REPO_DIR), "shared", "cases"))

CLOSED_LOG = "\U0001f7e2 Circuit breaker 'webdriver_requests' CLOSED - service recovered"


def run_client_script(base_url, worker_id):
    """The fleet script on muster_client, with a fresh process-wide client."""
    muster_client.monitoring._set_instance(None)
    client = pipeline_script(muster_client, base_url, worker_id)
    assert client.flush(10), client.stats()
    muster_client.monitoring._set_instance(None)
    client.close(1)
    return client


def logs_sent(keys):
    return [b["message"] for _, p, b in deployed_requests(keys) if p.endswith("/log")]


class StandInTest(unittest.TestCase):
    """tests/deployed.py sends what the deployed module sent."""

    def test_stand_in_matches_captured_traffic(self):
        for keys, name in (("older", "07_real_traffic_seed_era.json"), ("newer", "08_real_traffic_newer_worker.json")):
            path = os.path.join(SHARED_CASES, name)
            if not os.path.exists(path):
                self.skipTest("captured traffic not found at %s (set MUSTER_SHARED_CASES)" % path)
            with open(path, encoding="utf-8") as f:
                steps = json.load(f)["steps"]
            captured = [(s["method"], s["path"], s["body"]) for s in steps if s["method"] == "POST"]
            with self.subTest(keys=keys):
                self.assertEqual(normalized(captured), normalized(deployed_requests(keys)))


class FleetChecks(object):
    """Checks shared by the raw and client runs (a mixin)."""

    def check_fleet(self, server, total_workers, erie_status):
        status = server.get("/api/monitoring/status")
        for path, want in [
            ("extraction_status.status", "idle"),
            ("extraction_status.active_workers", 0),
            ("extraction_status.total_workers", total_workers),
            ("extraction_status.parishes_processed", 0),
            ("len(recent_errors)", 2),
            ("recent_errors.0.type", "ExtractionError"),
            ("recent_errors.0.message", "Extraction failed: " + FAILURE),
            ("recent_errors.0.diocese", "Diocese of Erie"),
            ("recent_errors.0.severity", "error"),
            ("recent_errors.1.type", "CircuitBreakerOpen"),
            ("recent_errors.1.severity", "warning"),
            ("len(extraction_history)", 3),
            ("extraction_history.0.diocese_name", "Diocese of Erie"),
            ("extraction_history.0.parishes_extracted", 1),
            ("extraction_history.0.status", erie_status),
            ("extraction_history.1.diocese_name", "Diocese of Boston"),
            ("extraction_history.1.parishes_extracted", 7),
            ("extraction_history.1.status", "completed"),
            ("extraction_history.2.diocese_name", "Archdiocese of Atlanta"),
            ("extraction_history.2.parishes_extracted", 12),
            ("extraction_history.2.success_rate", 100),
            ("circuit_breakers.webdriver_requests.state", "CLOSED"),
            ("circuit_breakers.webdriver_requests.total_requests", 110),
            ("circuit_breakers.webdriver_requests.total_successes", 98),
            ("circuit_breakers.diocese_page_load.total_successes", 43),
            ("circuit_breakers.parish_detail_load.total_successes", 112),
            ("performance_metrics.parishes_per_minute", 13.15),
            ("performance_metrics.queue_size", 3),
        ]:
            with self.subTest(doc="status", path=path):
                self.assertEqual(lookup(status, path), want)
        self.assertAlmostEqual(lookup(status, "extraction_history.1.success_rate"), 600 / 7, places=6)
        # Counts are numbers, never strings: the old browser code adds them up.
        for path in ("extraction_status.total_workers", "extraction_history.0.parishes_extracted",
                     "circuit_breakers.webdriver_requests.total_requests"):
            self.assertIsInstance(lookup(status, path), int, path)
        self.assertIn("system_health", status)
        self.assertIsInstance(status.get("websocket_connections"), int)

        aggregate = server.get("/api/monitoring/aggregate")
        self.assertEqual(lookup(aggregate, "extraction_status.status"), "idle")
        self.assertEqual(lookup(aggregate, "extraction_status.total_workers"), total_workers)
        self.assertEqual(lookup(aggregate, "circuit_breakers.webdriver_requests.total_requests"), 110)
        return status

    def check_breakers(self, worker):
        for path, want in [
            ("circuit_breakers.webdriver_requests.state", "CLOSED"),
            ("circuit_breakers.webdriver_requests.total_blocked", 9),
            ("circuit_breakers.webdriver_requests.total_successes", 98),
            ("circuit_breakers.diocese_page_load.total_successes", 43),
            ("circuit_breakers.diocese_page_load.success_rate", 95.6),
            ("circuit_breakers.parish_detail_load.total_successes", 112),
            ("extraction_status.status", "idle"),
            ("extraction_status.current_diocese", None),
            ("health", "fresh"),
        ]:
            with self.subTest(doc="worker", path=path):
                self.assertEqual(lookup(worker, path), want)


class RawReplayTest(FleetChecks, unittest.TestCase):
    """The deployed module's requests, sent raw."""

    def replay(self, server, keys, checkpoint=None):
        sent = deployed_requests(keys)
        replayer = Replayer(server.url)
        try:
            for i, (method, path, body) in enumerate(sent):
                status, answer = replayer.send(method, path, body)
                self.assertEqual((status, answer), (200, {"status": "success"}), "request %d %s" % (i, path))
                if checkpoint is not None:
                    checkpoint(i, path, body)
        finally:
            replayer.close()
        return sent

    def mid_extraction(self, server):
        """A checkpoint: the aggregate while Atlanta is half done."""
        seen = []

        def check(i, path, body):
            if path.endswith("extraction_status") and body["parishes_processed"] == 6 and \
                    body["current_diocese"] == "Archdiocese of Atlanta":
                agg = server.get("/api/monitoring/aggregate")["extraction_status"]
                self.assertEqual(agg["status"], "running")
                self.assertEqual(agg["active_workers"], 1)
                self.assertEqual((agg["parishes_processed"], agg["total_parishes"]), (6, 12))
                self.assertEqual(agg["progress_percentage"], 50.0)
                self.assertEqual(agg["success_rate"], 100.0)
                self.assertEqual(agg["current_diocese"], "Archdiocese of Atlanta")
                seen.append(i)
        return check, seen

    def test_older_keys_no_worker_id(self):
        with Musterd() as server:
            check, seen = self.mid_extraction(server)
            self.replay(server, "older", check)
            self.assertEqual(len(seen), 1)
            workers = server.get("/api/monitoring/workers")["workers"]
            self.assertEqual([(w["worker_id"], w["status"]) for w in workers], [("legacy", "idle")])
            self.check_breakers(server.get("/api/monitoring/worker/legacy"))
            self.check_fleet(server, total_workers=1, erie_status="completed")

    def test_newer_keys_with_worker_id(self):
        with Musterd() as server:
            check, seen = self.mid_extraction(server)
            self.replay(server, "newer", check)
            self.assertEqual(len(seen), 1)
            workers = {w["worker_id"]: w for w in server.get("/api/monitoring/workers")["workers"]}
            # The deployed module sent performance on the legacy path, so the
            # legacy pseudo-worker exists beside the pod.
            self.assertEqual(sorted(workers), ["legacy", WORKER_ID])
            self.assertEqual((workers[WORKER_ID]["status"], workers[WORKER_ID]["health"]), ("idle", "fresh"))
            worker = server.get("/api/monitoring/worker/" + WORKER_ID)
            self.check_breakers(worker)
            # Logs carried worker_id in their body: they belong to the pod.
            self.assertEqual([l["message"] for l in worker["recent_logs"]], logs_sent("newer")[::-1])
            self.assertEqual(worker["recent_logs"][0]["message"], CLOSED_LOG)
            # Errors and completions did not: they are fleet-wide.
            self.assertEqual(worker["recent_errors"], [])
            self.assertEqual(worker["extraction_history"], [])
            self.assertEqual(server.get("/api/monitoring/worker/legacy")["performance_metrics"]["queue_size"], 3)
            self.check_fleet(server, total_workers=2, erie_status="completed")

    def test_error_path_alone(self):
        """One failing extraction, request by request, both key sets."""
        for keys in ("older", "newer"):
            with self.subTest(keys=keys), Musterd() as server:
                worker_id = WORKER_ID if keys == "newer" else None
                from deployed import DeployedModule
                mod = DeployedModule(keys)
                try:
                    with mod.ExtractionMonitoring("Diocese of Erie", 5, DEFAULT_BASE_URL, worker_id) as m:
                        m.update_progress(1, 1)
                        raise RuntimeError("boom")
                except RuntimeError:
                    pass
                paths = [p.rsplit("/", 1)[1] for _, p, _ in mod.requests]
                self.assertEqual(paths, ["extraction_status", "log", "extraction_status", "error",
                                         "extraction_status", "extraction_complete", "log"])
                replayer = Replayer(server.url)
                for method, path, body in mod.requests:
                    self.assertEqual(replayer.send(method, path, body), (200, {"status": "success"}))
                replayer.close()
                status = server.get("/api/monitoring/status")
                self.assertEqual(lookup(status, "recent_errors.0.message"), "Extraction failed: boom")
                self.assertEqual(lookup(status, "extraction_history.0.parishes_extracted"), 1)
                self.assertEqual(lookup(status, "extraction_status.status"), "idle")
                owner = worker_id or "legacy"
                self.assertEqual(server.get("/api/monitoring/worker/" + owner)["extraction_status"]["status"], "idle")


class ClientLifecycleTest(FleetChecks, unittest.TestCase):
    """The same script on muster_client, only the import changed."""

    def test_older_keys_no_worker_id(self):
        with Musterd() as server:
            client = run_client_script(server.url, None)
            self.assertEqual(client.stats()["rejected"], 0)
            workers = server.get("/api/monitoring/workers")["workers"]
            self.assertEqual([(w["worker_id"], w["status"]) for w in workers], [("legacy", "idle")])
            self.check_breakers(server.get("/api/monitoring/worker/legacy"))
            status = self.check_fleet(server, total_workers=1, erie_status="failed")
            # Errors stay fleet-wide without a worker id, as before.
            self.assertNotIn("worker_id", [k for k, v in status["recent_errors"][0].items() if v])

    def test_newer_keys_with_worker_id(self):
        with Musterd() as server:
            client = run_client_script(server.url, WORKER_ID)
            self.assertEqual(client.stats()["rejected"], 0)
            workers = server.get("/api/monitoring/workers")["workers"]
            # Every kind of update went to the pod's paths: no legacy worker.
            self.assertEqual([(w["worker_id"], w["status"], w["health"]) for w in workers],
                             [(WORKER_ID, "idle", "fresh")])
            worker = server.get("/api/monitoring/worker/" + WORKER_ID)
            self.check_breakers(worker)
            sent = logs_sent("newer")
            sent[sent.index("\u2705 Completed Diocese of Erie: 1 parishes, 100.0% success")] = \
                "\u274c Failed Diocese of Erie: 1 parishes, 100.0% success"
            self.assertEqual([l["message"] for l in worker["recent_logs"]], sent[::-1])
            self.assertEqual(worker["recent_logs"][0]["message"], CLOSED_LOG)
            # Errors, completions and performance now keep their worker.
            self.assertEqual([e["type"] for e in worker["recent_errors"]], ["ExtractionError", "CircuitBreakerOpen"])
            self.assertEqual([(c["diocese_name"], c["status"]) for c in worker["extraction_history"]],
                             [("Diocese of Erie", "failed"), ("Diocese of Boston", "completed"),
                              ("Archdiocese of Atlanta", "completed")])
            self.assertEqual(worker["performance_metrics"]["parishes_per_minute"], 13.15)
            status = self.check_fleet(server, total_workers=1, erie_status="failed")
            self.assertEqual(status["recent_errors"][0]["worker_id"], WORKER_ID)

    def test_mid_extraction_state(self):
        """While an extraction runs: the worker's status and the aggregate,
        with started_at fixed for the run and an estimated completion."""
        for worker_id in (None, "pod-mid"):
            with self.subTest(worker_id=worker_id), Musterd() as server:
                client = muster_client.MonitoringClient(server.url, worker_id)
                with muster_client.ExtractionMonitoring("Diocese of Tulsa", 8, client=client) as m:
                    for i in range(1, 5):
                        m.update_progress(i, i - 1)
                    self.assertTrue(client.flush(5))
                    st = server.get("/api/monitoring/worker/" + (worker_id or "legacy"))["extraction_status"]
                    self.assertEqual((st["status"], st["current_diocese"]), ("running", "Diocese of Tulsa"))
                    self.assertEqual((st["parishes_processed"], st["total_parishes"]), (4, 8))
                    self.assertEqual((st["success_rate"], st["progress_percentage"]), (75.0, 50.0))
                    self.assertIsNotNone(st["estimated_completion"])
                    agg = server.get("/api/monitoring/aggregate")["extraction_status"]
                    self.assertEqual((agg["status"], agg["active_workers"], agg["parishes_processed"]),
                                     ("running", 1, 4))
                    started = st["started_at"]
                    m.update_progress(5, 4)
                    self.assertTrue(client.flush(5))
                    st = server.get("/api/monitoring/worker/" + (worker_id or "legacy"))["extraction_status"]
                    self.assertEqual(st["started_at"], started)
                    self.assertEqual(st["parishes_processed"], 5)
                self.assertTrue(client.flush(5))
                client.close(1)


def as_expected_from_client(keys, requests):
    """The deployed module's requests turned into what muster_client sends
    for the same script (its documented differences)."""
    out = []
    for method, path, body in requests:
        kind = path.rsplit("/", 1)[1]
        if keys == "newer":
            path = "/api/monitoring/worker/%s/%s" % (WORKER_ID, kind)
            if kind == "log":
                body = {k: v for k, v in body.items() if k not in ("worker_id", "worker_type")}
        if kind == "extraction_complete":
            body = dict(body, timestamp="<set>")
            if body["diocese_name"] == "Diocese of Erie":
                body["status"] = "failed"
        if kind == "log" and body["message"].startswith("\u2705 Completed Diocese of Erie"):
            body = dict(body, message=body["message"].replace("\u2705 Completed", "\u274c Failed"), level="ERROR")
        out.append((method, path, body))
    return out


def comparable(requests):
    """Bodies with volatile values reduced to their presence; the extraction
    status keeps its key order (a whole object), other bodies compare as
    dicts."""
    out = []
    for method, path, body in requests:
        body = dict(body)
        for key in ("started_at", "timestamp", "duration"):
            if key in body:
                body[key] = "<set>" if body[key] is not None else None
        if path.endswith("extraction_status"):
            body.pop("estimated_completion")  # the client estimates it; the deployed module sent null
            body = tuple(body.items())
        out.append((method, path, body))
    return out


class ClientRequestsTest(unittest.TestCase):
    """Request by request, muster_client sends what the deployed module sent,
    but for its documented differences; extraction statuses it superseded
    while they waited are the only requests it may leave out."""

    def check(self, keys):
        with RecordingServer() as server:
            client = run_client_script(server.url, WORKER_ID if keys == "newer" else None)
            got = comparable(server.requests)
        want = comparable(as_expected_from_client(keys, deployed_requests(keys)))
        stats = client.stats()
        self.assertEqual(stats["dropped"], 0)
        # got must be want with some extraction statuses left out, each of
        # them followed by a later status that was sent.
        i = 0
        skipped = 0
        for w in want:
            if i < len(got) and got[i] == w:
                i += 1
                continue
            self.assertTrue(w[1].endswith("extraction_status"),
                            "request %d missing or different:\nwant %r\ngot  %r" % (i, w, got[i] if i < len(got) else None))
            skipped += 1
        self.assertEqual(i, len(got), "unexpected requests: %r" % (got[i:],))
        self.assertEqual(got[-1], want[-1])
        self.assertEqual(skipped, stats["superseded"])
        last_status = [w for w in want if w[1].endswith("extraction_status")][-1]
        self.assertEqual([g for g in got if g[1].endswith("extraction_status")][-1], last_status)

    def test_older_keys(self):
        self.check("older")

    def test_newer_keys(self):
        self.check("newer")


class WebSocketFeedTest(unittest.TestCase):
    """The old dashboard's feed at /ws/monitoring (CONTRACT section 2)."""

    def connect(self, server):
        try:
            ws = WebSocket(server.url.replace("http://", "ws://") + "/ws/monitoring")
        except WebSocketNotFound:
            self.skipTest("/ws/monitoring answers 404: the endpoint is not in this musterd yet")
        self.addCleanup(ws.close)
        return ws

    def test_ping_pong(self):
        with Musterd() as server:
            ws = self.connect(server)
            ws.send_json({"type": "ping"})
            self.assertTrue(ws.wait_for(lambda msgs: {"type": "pong"} in msgs), ws.messages[-5:])
            self.assertTrue(ws.wait_for(lambda msgs: any(isinstance(m, dict) and m.get("type") == "system_health"
                                                         for m in msgs)))
            status = server.get("/api/monitoring/status")
            self.assertGreaterEqual(status["websocket_connections"], 1)

    def run_and_watch(self, keys, via):
        worker_id = WORKER_ID if keys == "newer" else None
        with Musterd() as server:
            ws = self.connect(server)
            self.assertTrue(ws.wait_for(lambda msgs: ws.of_type("system_health")), "no system_health at connect")
            if via == "raw":
                replayer = Replayer(server.url)
                for method, path, body in deployed_requests(keys):
                    self.assertEqual(replayer.send(method, path, body)[0], 200)
                    if path.endswith("extraction_status") and body["parishes_processed"] == 6:
                        # Half way through a diocese, the dashboard shows it
                        # running (the feed coalesces, so wait for it here).
                        def running(msgs, want=body):
                            return any(m["payload"].get("status") == "running" and
                                       m["payload"].get("parishes_processed") == 6 and
                                       m["payload"].get("current_diocese") == want["current_diocese"]
                                       for m in ws.of_type("extraction_status"))
                        self.assertTrue(ws.wait_for(running), "no running extraction_status at 6 parishes")
                replayer.close()
                sent_logs = logs_sent(keys)
            else:
                run_client_script(server.url, worker_id)
                sent_logs = [m.replace("\u2705 Completed Diocese of Erie", "\u274c Failed Diocese of Erie")
                             for m in logs_sent(keys)]

            def settled(msgs):
                breakers = ws.of_type("circuit_breaker_status")
                return len(ws.of_type("live_log")) >= len(sent_logs) and len(ws.of_type("extraction_complete")) >= 3 \
                    and len(ws.of_type("error_alert")) >= 2 and breakers and \
                    breakers[-1]["payload"].get("webdriver_requests", {}).get("total_requests") == 110
            self.assertTrue(ws.wait_for(settled, timeout=10),
                            "feed incomplete: %r" % sorted(set(m.get("type") for m in ws.messages)))
            ws.send_json({"type": "ping"})
            self.assertTrue(ws.wait_for(lambda msgs: {"type": "pong"} in msgs))

            kinds = set(m.get("type") for m in ws.messages if isinstance(m, dict))
            for kind in ("extraction_status", "circuit_breaker_status", "performance_metrics", "system_health",
                         "error_alert", "extraction_complete", "live_log", "worker_extraction_status"):
                self.assertIn(kind, kinds)
            for m in ws.messages:
                self.assertEqual(sorted(m), ["payload", "type"] if m["type"] != "pong" else ["type"], m)

            self.assertEqual([m["payload"]["message"] for m in ws.of_type("live_log")], sent_logs)
            self.assertEqual([m["payload"]["type"] for m in ws.of_type("error_alert")],
                             ["CircuitBreakerOpen", "ExtractionError"])
            self.assertEqual([m["payload"]["diocese_name"] for m in ws.of_type("extraction_complete")],
                             ["Archdiocese of Atlanta", "Diocese of Boston", "Diocese of Erie"])
            statuses = [m["payload"] for m in ws.of_type("extraction_status")]
            self.assertEqual(statuses[-1].get("status"), "idle")
            self.assertEqual(statuses[-1].get("total_workers"), 2 if (keys, via) == ("newer", "raw") else 1)
            for s in statuses:
                self.assertIsInstance(s["parishes_processed"], int)
                self.assertIsInstance(s["total_parishes"], int)
            owners = set(m["payload"].get("worker_id") for m in ws.of_type("worker_extraction_status"))
            self.assertIn(worker_id or "legacy", owners)
            return ws

    def test_older_keys_raw(self):
        self.run_and_watch("older", "raw")

    def test_newer_keys_raw(self):
        ws = self.run_and_watch("newer", "raw")
        self.assertEqual(set(m["payload"].get("worker_id") for m in ws.of_type("live_log")), {WORKER_ID})

    def test_older_keys_client(self):
        self.run_and_watch("older", "client")

    def test_newer_keys_client(self):
        ws = self.run_and_watch("newer", "client")
        for kind in ("live_log", "error_alert", "extraction_complete"):
            self.assertEqual(set(m["payload"].get("worker_id") for m in ws.of_type(kind)), {WORKER_ID}, kind)


if __name__ == "__main__":
    unittest.main()

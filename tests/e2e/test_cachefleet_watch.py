#!/usr/bin/python3
"""`scripts/cachefleet watch` / `operations` against a scripted fake of the orchestrator's
`GET /cachefleet/operations?group=<id>` (no daemons; a few seconds). The real thing is
exercised by test_reshard.py, which watches a live 3->5 reshard."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "scripts" / "cachefleet"


def op(pct, state="move-slots", **kw):
    d = {"id": 7, "group": "g1", "kind": "reshard", "state": state, "step": "moving slots",
         "progress_percentage": pct, "slots_done": int(pct * 40.96), "slots_planned": 4096,
         "keys_moved": int(pct * 2000), "keys_total": 200000, "bytes_moved": int(pct * 2e5),
         "keys_per_second": 41000.0, "eta_seconds": (100 - pct) / 20, "retries": 0,
         "last_error": "", "started_at": "2024-05-01T12:00:00.000Z", "finished_at": None}
    d.update(kw)
    return d


class FakeOrchestrator:
    """Serves `script` (a list of (HTTP status, body dict) answers) one per GET, repeating
    the last one; records the queried paths."""

    def __init__(self, script):
        self.script = list(script)
        self.paths = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.paths.append(self.path)
                status, body = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def ok(*ops):
    return (200, {"operations": list(ops)})


def run_cli(*args, env=None, timeout=30):
    e = dict(os.environ)
    e.pop("CACHEFLEET_ENDPOINT", None)
    e["CACHEFLEET_LAB_DIR"] = "/nonexistent-cachefleet-lab"
    e.update(env or {})
    r = subprocess.run([sys.executable, str(CLI), *args], capture_output=True,
                       timeout=timeout, env=e)
    # Decoded by hand: text=True would turn the progress bar's "\r" into "\n".
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


class Watch(unittest.TestCase):
    def test_success_plain(self):
        done = op(100, state="succeeded", finished_at="2024-05-01T12:00:05.000Z", eta_seconds=0)
        with FakeOrchestrator([ok(op(0)), ok(op(30)), ok(op(60)), ok(op(90)), ok(done)]) as f:
            r = run_cli("watch", "g1", "--endpoint-url", f.url, "--interval", "0.05")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("/cachefleet/operations?group=g1", f.paths[0])
        lines = r.stdout.splitlines()
        self.assertNotIn("\r", r.stdout)  # no terminal: plain lines
        self.assertIn("reshard 7 of g1 succeeded in 5.0 s", r.stdout)
        self.assertIn("4096/4096 slots", r.stdout)
        self.assertIn("200,000 keys moved", r.stdout)
        self.assertTrue(any("slots" in ln and "keys" in ln and "keys/s" in ln for ln in lines),
                        r.stdout)
        # At most one progress line per second plus the final two.
        self.assertLessEqual(len(lines), 4, r.stdout)

    def test_tty_bar(self):
        done = op(100, state="succeeded", finished_at="2024-05-01T12:00:05.000Z")
        with FakeOrchestrator([ok(op(10)), ok(op(42.5, retries=2, last_error="IOERR timeout")),
                               ok(done)]) as f:
            r = run_cli("watch", "g1", "--endpoint-url", f.url, "--interval", "0.05", "--tty",
                        env={"COLUMNS": "200"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("\r\x1b[K", r.stdout)
        self.assertIn("█", r.stdout)
        self.assertIn(" 42.5%", r.stdout)
        self.assertIn("slots 1740/4096", r.stdout)
        self.assertIn("keys 85.0k/200.0k", r.stdout)
        self.assertIn("41.0k keys/s", r.stdout)
        self.assertIn("ETA 3s", r.stdout)
        self.assertIn("retries 2", r.stdout)
        self.assertIn("last error: IOERR timeout", r.stdout)
        # Each redraw fits on one line of the terminal.
        for frame in r.stdout.split("\r\x1b[K"):
            for ln in frame.split("\n"):
                self.assertLessEqual(len(ln), 200)

    def test_failure(self):
        failed = op(37, state="failed", retries=5, last_error="MIGRATE: OOM on target",
                    finished_at="2024-05-01T12:00:09.000Z")
        with FakeOrchestrator([ok(op(20)), ok(failed)]) as f:
            r = run_cli("watch", "g1", "--endpoint-url", f.url, "--interval", "0.05")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("error: MIGRATE: OOM on target", r.stdout)

    def test_rides_out_restart(self):
        done = op(100, state="succeeded", finished_at="2024-05-01T12:00:05.000Z")
        with FakeOrchestrator([ok(op(20)), (503, {}), (503, {}), (503, {}), ok(op(70)),
                               ok(done)]) as f:
            r = run_cli("watch", "g1", "--endpoint-url", f.url, "--interval", "0.05")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_unreachable(self):
        r = run_cli("watch", "g1", "--endpoint-url", "http://127.0.0.1:1", "--interval", "0.05",
                    "--unreachable-timeout", "0.3")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("unreachable", r.stderr)

    def test_newest_unfinished_and_env_endpoint(self):
        old = dict(op(100, state="succeeded", finished_at="2024-05-01T11:00:00Z"), id=3)
        other = dict(op(50), id=9, kind="failover")
        done = op(100, state="succeeded", finished_at="2024-05-01T12:00:01Z")
        with FakeOrchestrator([ok(old, op(50), other), ok(old, done, other)]) as f:
            r = run_cli("watch", "g1", "--kind", "reshard", "--interval", "0.05",
                        env={"CACHEFLEET_ENDPOINT": f.url})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("reshard 7 of g1 succeeded", r.stdout)

    def test_nothing_to_watch(self):
        with FakeOrchestrator([ok()]) as f:
            r = run_cli("watch", "g1", "--endpoint-url", f.url, "--interval", "0.05",
                        "--wait-start", "0.2")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no operation found", r.stderr)

    def test_no_endpoint(self):
        r = run_cli("watch", "g1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no endpoint", r.stderr)

    def test_operations_list(self):
        with FakeOrchestrator([ok(op(42.5))]) as f:
            r = run_cli("operations", "g1", "--endpoint-url", f.url)
            j = run_cli("--endpoint-url", f.url, "operations", "g1", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reshard", r.stdout)
        self.assertIn("42.5%", r.stdout)
        self.assertEqual(json.loads(j.stdout)["operations"][0]["id"], 7)


if __name__ == "__main__":
    unittest.main(verbosity=2)

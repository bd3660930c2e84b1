#!/usr/bin/python3
"""scripts/lab.sh — the README's main job — in a temp lab dir: up, status, demo (AWS CLI v2
create, wait, cluster check, 1000 keys), a second up is a no-op, down stops every process by PID
(redis-servers included) and keeps the state, down --purge removes the dir."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import fixture as fx

from cftools.procs import pid_alive, redis_processes_under, terminate_pid

LAB_SH = fx.REPO / "scripts" / "lab.sh"


class LabScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="cf-e2e-labsh-")) / "lab"
        cls.env = dict(os.environ, CACHEFLEET_LAB_DIR=str(cls.dir), CACHEFLEET_LAB_NO_BUILD="1")

    @classmethod
    def tearDownClass(cls):
        # Whatever happened, stop everything by PID.
        subprocess.run(["bash", str(LAB_SH), "down"], env=cls.env, capture_output=True,
                       timeout=120)
        lab = fx.Lab.attach(cls.dir)
        lab.stop()
        for p in redis_processes_under(cls.dir.parent):
            terminate_pid(p["pid"], expect="redis-server", grace_s=2)
        shutil.rmtree(cls.dir.parent, ignore_errors=True)

    def lab(self, *args, timeout=300):
        r = subprocess.run(["bash", str(LAB_SH), *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        print(f"$ lab.sh {' '.join(args)} -> {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-2000:]}",
              flush=True)
        return r

    def test_lab_lifecycle(self):
        r = self.lab("up")
        self.assertEqual(r.returncode, 0)
        st = json.loads((self.dir / "lab.json").read_text())
        self.assertIn(st["endpoint"], r.stdout)
        for needle in (fx.ACCESS_KEY_ID, fx.SECRET_ACCESS_KEY, fx.REGION,
                       "/usr/bin/aws elasticache create-replication-group", "--endpoint-url"):
            self.assertIn(needle, r.stdout)
        self.assertIn(fx.SECRET_ACCESS_KEY, (self.dir / "orchestrator" / "orchestrator.yaml").read_text())
        pids = {p.stem: int(p.read_text()) for p in (self.dir / "pids").glob("*.pid")}
        self.assertEqual(sorted(pids), ["agent-host-a", "agent-host-b", "agent-host-c", "orchestrator"])
        self.assertTrue(all(pid_alive(p) for p in pids.values()))
        ranges = [tuple(a["port_range"]) for a in st["agents"].values()]
        for i, (s1, e1) in enumerate(ranges):
            self.assertLessEqual(e1 + 10000, 65535)
            for s2, e2 in ranges[i + 1:]:
                self.assertTrue(e1 < s2 or e2 < s1, f"overlapping node port ranges {ranges}")

        r = self.lab("up")  # idempotent: same processes
        self.assertEqual(r.returncode, 0)
        self.assertIn("already running", r.stdout)
        self.assertEqual({p.stem: int(p.read_text()) for p in (self.dir / "pids").glob("*.pid")}, pids)

        r = self.lab("demo", timeout=400)
        self.assertEqual(r.returncode, 0)
        self.assertIn("demo succeeded", r.stdout)
        self.assertIn("wrote 1000/1000", r.stdout)
        self.assertIn("read back 1000/1000", r.stdout)
        self.assertIn("[OK] All 16384 slots covered.", r.stdout)
        self.assertIn("delete-replication-group --replication-group-id demo", r.stdout)

        r = self.lab("status")
        self.assertEqual(r.returncode, 0)
        self.assertIn("demo", r.stdout)
        self.assertIn("available", r.stdout)

        lab = fx.Lab.attach(self.dir)
        self.assertEqual(len(lab.redis_pids(include_warm=False)), 6,
                         "the demo group should be left running")
        redis = lab.redis_pids()  # warm-pool nodes included: down stops them all

        r = self.lab("down")
        self.assertEqual(r.returncode, 0)
        self.assertFalse(any(pid_alive(p) for p in pids.values()), "daemons survived down")
        self.assertEqual([p for p in redis if fx.is_redis_server(p)], [], "redis-servers survived down")
        self.assertTrue((self.dir / "orchestrator" / "orchestrator.db").exists() or
                        any((self.dir / "orchestrator").iterdir()), "down removed state")
        self.assertTrue((self.dir / "agents").is_dir())

        r = self.lab("status")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not running", r.stdout)

        r = self.lab("down", "--purge")
        self.assertEqual(r.returncode, 0)
        self.assertFalse(self.dir.exists())


if __name__ == "__main__":
    fx.run(deadline_s=420)

#!/usr/bin/python3
"""DescribeEvents end to end (boto3 and AWS CLI v2): the events a create and parameter-group
changes write, SourceIdentifier/SourceType filters, StartTime/EndTime with 0-9 fraction
digits, Duration, newest-first order, MaxRecords/Marker pagination (boto3 by hand, the CLI's
own paginator), the 14-day retention, and every rejection (InvalidParameterValue /
InvalidParameterCombination, nothing returned)."""
import datetime as dt
import sqlite3
import time
import unittest

from botocore.exceptions import ClientError

import fixture as fx

RG = "ev-cmd"
PGS = [f"ev-pg-{i:02d}" for i in range(30)]


def setUpModule():
    fx.start_lab("events")
    fx.client().create_replication_group(
        ReplicationGroupId=RG, ReplicationGroupDescription="events", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    fx.wait_status(RG)
    c = fx.client()
    for name in PGS:  # one event each
        c.create_cache_parameter_group(CacheParameterGroupName=name,
                                       CacheParameterGroupFamily="redis7", Description="ev")
        time.sleep(0.002)  # distinct dates


def tearDownModule():
    fx.stop_lab()


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def all_events(**kw):
    c, out, marker, pages = fx.client(), [], None, 0
    while True:
        args = dict(kw)
        if marker:
            args["Marker"] = marker
        page = c.describe_events(**args)
        out += page["Events"]
        pages += 1
        marker = page.get("Marker")
        if not marker:
            return out, pages


class Events(unittest.TestCase):
    def expect(self, code, status=400, **kw):
        with self.assertRaises(ClientError, msg=str(kw)) as cm:
            fx.client().describe_events(**kw)
        self.assertEqual(fx.error_code(cm.exception), (code, status), str(kw))
        print(f"  {kw}: {code}: {cm.exception.response['Error']['Message']}", flush=True)

    def test_01_create_events_newest_first(self):
        ev = fx.client().describe_events(SourceIdentifier=RG,
                                         SourceType="replication-group")["Events"]
        msgs = [e["Message"] for e in ev]
        print("  ", msgs, flush=True)
        self.assertIn(f"Creating replication group {RG}", msgs)
        self.assertIn(f"Replication group {RG} created", msgs)
        self.assertLess(msgs.index(f"Replication group {RG} created"),
                        msgs.index(f"Creating replication group {RG}"))
        for e in ev:
            self.assertEqual(e["SourceIdentifier"], RG)
            self.assertEqual(e["SourceType"], "replication-group")
            self.assertIsInstance(e["Date"], dt.datetime)
        dates = [e["Date"] for e in ev]
        self.assertEqual(dates, sorted(dates, reverse=True))
        # Case-insensitive identifier; another type gives nothing.
        ev2 = fx.client().describe_events(SourceIdentifier=RG.upper())["Events"]
        self.assertEqual(len(ev2), len(ev))
        self.assertEqual(fx.client().describe_events(
            SourceIdentifier=RG, SourceType="cache-cluster")["Events"], [])

    def test_02_source_type_filter(self):
        ev, _ = all_events(SourceType="cache-parameter-group")
        names = {e["SourceIdentifier"] for e in ev}
        self.assertTrue(set(PGS) <= names, names)
        self.assertTrue(all(e["SourceType"] == "cache-parameter-group" for e in ev))
        self.assertTrue(all(e["Message"].startswith("Cache parameter group ") for e in ev))

    def test_03_pagination(self):
        everything, pages = all_events(MaxRecords=20)
        ids = [(e["SourceIdentifier"], e["Message"], e["Date"]) for e in everything]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertGreaterEqual(len(ids), 32)
        self.assertEqual(pages, (len(ids) + 19) // 20)
        one, _ = all_events()
        self.assertEqual([(e["SourceIdentifier"], e["Message"]) for e in one],
                         [(e["SourceIdentifier"], e["Message"]) for e in everything])
        # The last page carries no Marker; a full first page does.
        first = fx.client().describe_events(MaxRecords=20)
        self.assertIn("Marker", first)
        self.assertEqual(len(first["Events"]), 20)
        # The CLI follows the Marker itself.
        rc, out, err = fx.aws("describe-events", "--page-size", "20")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out["Events"]), len(ids))
        rc, out, err = fx.aws("describe-events", "--max-items", "5")
        self.assertEqual(len(out["Events"]), 5)

    def test_04_time_windows(self):
        now = time.time()
        c = fx.client()
        # A window in the past hour with fractions (boto3 sends 6 digits).
        ev = c.describe_events(StartTime=utc(now - 3600), EndTime=utc(now + 5),
                               SourceIdentifier=RG)["Events"]
        self.assertGreaterEqual(len(ev), 2)
        # A window that ended before the lab started: nothing.
        self.assertEqual(c.describe_events(StartTime=utc(now - 7200),
                                           EndTime=utc(now - 3700))["Events"], [])
        # Duration in minutes.
        self.assertGreaterEqual(len(c.describe_events(Duration=60, SourceIdentifier=RG)["Events"]),
                                2)
        # Raw requests: 0 and 9 fraction digits, and a `Z`-less time.
        start = utc(now - 3600).strftime("%Y-%m-%dT%H:%M:%S")
        end = utc(now + 60).strftime("%Y-%m-%dT%H:%M:%S")
        for s, e, want in [(start + "Z", end + ".123456789Z", 200),
                           (start + ".5Z", end + "Z", 200),
                           (start, end + "Z", 400),
                           (start + ".1234567891Z", end + "Z", 400)]:
            st, code, text = fx.raw_call({"Action": "DescribeEvents", "Version": "2015-02-02",
                                          "StartTime": s, "EndTime": e, "SourceIdentifier": RG})
            self.assertEqual(st, want, f"{s} {e}: {text[:300]}")
            if want == 200:
                self.assertIn("<Events><Event><SourceIdentifier>", text)
            else:
                self.assertEqual(code, "InvalidParameterValue")
        # CLI v2 with ISO times.
        rc, out, err = fx.aws("describe-events", "--source-identifier", RG, "--source-type",
                              "replication-group", "--start-time",
                              utc(now - 3600).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(len(out["Events"]), 2)

    def test_05_rejections(self):
        now = time.time()
        self.expect("InvalidParameterValue", SourceType="cluster")
        self.expect("InvalidParameterValue", MaxRecords=19)
        self.expect("InvalidParameterValue", MaxRecords=101)
        self.expect("InvalidParameterValue", Marker="not-a-marker")
        self.expect("InvalidParameterValue", StartTime=utc(now), EndTime=utc(now - 60))
        self.expect("InvalidParameterValue", Duration=-5)
        self.expect("InvalidParameterCombination", StartTime=utc(now - 60), EndTime=utc(now),
                    Duration=5)
        st, code, _ = fx.raw_call({"Action": "DescribeEvents", "Version": "2015-02-02",
                                   "Bogus": "1"})
        self.assertEqual((st, code), (400, "InvalidParameterValue"))
        rc, _, err = fx.aws("describe-events", "--source-type", "nope", expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("InvalidParameterValue", err)

    def test_06_retention(self):
        db = fx.lab().root / "orchestrator" / "orchestrator.db"
        old_ms = int((time.time() - 15 * 86400) * 1000)
        recent_ms = int((time.time() - 13 * 86400) * 1000)
        con = sqlite3.connect(str(db), timeout=10)
        with con:
            con.execute("INSERT INTO events(source_id, source_type, message, date_ms) "
                        "VALUES('ev-old','replication-group','too old',?)", (old_ms,))
            con.execute("INSERT INTO events(source_id, source_type, message, date_ms) "
                        "VALUES('ev-old','replication-group','kept',?)", (recent_ms,))
        ev = fx.client().describe_events(SourceIdentifier="ev-old",
                                         StartTime=utc(time.time() - 20 * 86400))["Events"]
        self.assertEqual([e["Message"] for e in ev], ["kept"])
        left = con.execute("SELECT message FROM events WHERE source_id='ev-old'").fetchall()
        con.close()
        self.assertEqual(left, [("kept",)])


if __name__ == "__main__":
    fx.run(deadline_s=420)

#!/usr/bin/python3
"""Calls the cachefleet API with boto3 and prints what the client saw, as JSON.

Used by api_server_test.cc. argv[1] is a JSON spec:
  {"endpoint": "http://127.0.0.1:PORT", "access_key": ..., "secret": ..., "region": ...,
   "session_token": optional, "max_attempts": optional (default 1),
   "calls": [{"operation": "describe_replication_groups", "params": {...}}, ...]}
Prints a JSON list with one object per call:
  success: {"ok": true, "response": {...}, "request_id", "header_request_id", "http_status",
            "retries"}
  error:   {"ok": false, "code", "message", "type", "exception", "http_status", "request_id",
            "header_request_id", "retries"}
"""
import json
import sys

import boto3
import botocore.exceptions
from botocore.config import Config


def main():
    spec = json.loads(sys.argv[1])
    session = boto3.session.Session(
        aws_access_key_id=spec["access_key"],
        aws_secret_access_key=spec["secret"],
        aws_session_token=spec.get("session_token"),
        region_name=spec["region"],
    )
    client = session.client(
        "elasticache",
        endpoint_url=spec["endpoint"],
        config=Config(
            retries={"total_max_attempts": spec.get("max_attempts", 1), "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )
    results = []
    for call in spec["calls"]:
        try:
            resp = getattr(client, call["operation"])(**call.get("params", {}))
            md = resp.pop("ResponseMetadata")
            results.append({
                "ok": True,
                "response": resp,
                "request_id": md.get("RequestId"),
                "header_request_id": md.get("HTTPHeaders", {}).get("x-amzn-requestid"),
                "http_status": md.get("HTTPStatusCode"),
                "retries": md.get("RetryAttempts"),
            })
        except botocore.exceptions.ClientError as e:
            r = e.response
            md = r.get("ResponseMetadata", {})
            results.append({
                "ok": False,
                "code": r.get("Error", {}).get("Code"),
                "message": r.get("Error", {}).get("Message"),
                "type": r.get("Error", {}).get("Type"),
                "exception": type(e).__name__,
                "http_status": md.get("HTTPStatusCode"),
                "request_id": md.get("RequestId"),
                "header_request_id": md.get("HTTPHeaders", {}).get("x-amzn-requestid"),
                "retries": md.get("RetryAttempts"),
            })
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()

"""boto3 ElastiCache clients (Debian's boto3; imported only when a client is made): signed with
the lab's keys (lab_client: status, tests, benchmarks) or with any keys for any endpoint
(endpoint_client: `cachefleet drill`)."""
from __future__ import annotations

import os

from cftools.lab import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


def _config(max_attempts: int, connect_timeout: float, read_timeout: float):
    from botocore.config import Config
    # Standard retries: 4xx faults are never retried (so error checks stay deterministic), but a
    # pooled keep-alive connection that the server closed (idle timeout, restart) is.
    return Config(retries={"max_attempts": max_attempts, "mode": "standard"},
                  connect_timeout=connect_timeout, read_timeout=read_timeout)


def _client(endpoint: str, region: str, config, access_key: str | None, secret: str | None,
            **kw):
    import boto3
    if access_key is not None or secret is not None:
        kw.update(aws_access_key_id=access_key, aws_secret_access_key=secret)
    return boto3.client("elasticache", endpoint_url=endpoint, region_name=region, config=config,
                        **kw)


def lab_client(lab, **kw):
    """A client of `lab` (a cftools.lab.Lab) with the lab's keys (access_key= / secret= /
    config= override them; other kw go to boto3.client)."""
    cfg = kw.pop("config", None) or _config(3, 5, 30)
    return _client(lab.endpoint, REGION, cfg, kw.pop("access_key", ACCESS_KEY_ID),
                   kw.pop("secret", SECRET_ACCESS_KEY), **kw)


def endpoint_client(endpoint: str, access_key: str | None = None, secret: str | None = None,
                    region: str | None = None, timeout_s: float = 5.0):
    """A client of any orchestrator: the given keys when both are set (else boto3's own
    lookup), region else $AWS_DEFAULT_REGION / $AWS_REGION / us-east-1."""
    if not (access_key and secret):
        access_key = secret = None
    return _client(endpoint, region or os.environ.get("AWS_DEFAULT_REGION")
                   or os.environ.get("AWS_REGION") or "us-east-1",
                   _config(2, timeout_s, max(timeout_s, 10)), access_key, secret)

"""The store tests use the shared local S3 server (see tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def moto_server(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def bucket(s3_bucket: tuple[str, Any]) -> tuple[str, Any]:
    """A fresh bucket, and a boto3 client to look into it."""
    return s3_bucket

"""Kind `worker`: a long-running service without a load balancer or port."""

from __future__ import annotations

from app.kinds.base import Kind

KIND = Kind(name="worker", summary="has no load balancer and no port")

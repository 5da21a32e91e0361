"""Kind `web`: a long-running service behind the environment's load balancer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import Field

from app import aws_rules
from app.kinds.base import Kind, KindProblem, KindSettings
from modules import settings

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig, ServiceConfig


class WebSettings(KindSettings):
    container_port: int = 8000
    """Port the container listens on (web only)."""
    health_check_path: str = settings.HEALTH_CHECK_PATH
    """Path the load balancer's health check requests (web only)."""
    path_patterns: list[str] = Field(default_factory=list)
    """Load-balancer path rules routed to this web service (e.g. `/api/*`). Empty: the default route."""
    host_headers: list[str] = Field(default_factory=list)
    """Load-balancer host rules routed to this web service. Empty: any host."""


def validate(svc: ServiceConfig, env: EnvironmentConfig) -> Iterable[KindProblem]:
    # Routes are checked across all routed services at once (app/validate_services._validate_routes).
    if not 1 <= svc.container_port <= 65535:
        yield "container_port", f"must be 1-65535, got {svc.container_port}"
    limit = aws_rules.shape_max("elbv2", "Path")  # botocore elbv2 model: HealthCheckPath
    if not svc.health_check_path.startswith("/") or len(svc.health_check_path) > limit:
        yield "health_check_path", f"must start with '/' (at most {limit} characters)"


KIND = Kind(
    name="web",
    summary="runs behind the environment's load balancer",
    settings=WebSettings,
    has_load_balancer=True,
    settings_need="load balancer",
    validate=validate,
)

"""`/healthz` for the load balancer, answered before anything validates the Host header.

The ALB's health check sends the task's private IP as `Host`, which is (rightly) not in
ALLOWED_HOSTS: any view would answer 400 (DisallowedHost) and the target would never turn healthy.
This middleware is the first in MIDDLEWARE, and nothing before it calls `request.get_host()`.
`ALLOWED_HOSTS = ["*"]` is the wrong fix: it lets any Host into absolute URLs (password-reset links).
"""

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != settings.HEALTH_CHECK_PATH:
            return self.get_response(request)
        try:
            # Cheap, and proves the login, the network path and the server: a task whose database is
            # gone is replaced rather than left serving errors.
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            return HttpResponse(f"database unavailable: {type(exc).__name__}\n", status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")

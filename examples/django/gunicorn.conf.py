"""gunicorn's settings, read from the working directory: `gunicorn config.wsgi`."""

import os

# Always explicit: without a bind, gunicorn listens on $PORT or 8000, whatever the service's port is.
# PLATFORM_HTTP_PORT is the service's `container_port`, the port the load balancer's target group
# sends to. (`platformctl secrets exec` exports the database login's port as DATABASE_PORT.)
bind = [f"0.0.0.0:{os.environ.get('PLATFORM_HTTP_PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Import Django once in the master: a broken configuration (no SECRET_KEY) stops gunicorn with a
# clear error instead of a loop of worker boot failures, and workers share the imported code.
preload_app = True
# Longer than the ALB's 60 s idle timeout, so the load balancer closes idle connections, not us.
keepalive = 75
# ECS sends SIGTERM and waits 30 s (stopTimeout) before SIGKILL: finish in-flight requests first.
graceful_timeout = 25
accesslog = "-"  # stdout: ECS ships it to CloudWatch
errorlog = "-"

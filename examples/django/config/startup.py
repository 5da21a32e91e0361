"""Start-up checks of the long-running processes (web and worker)."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def require_secret_key() -> None:
    """Refuse to start without SECRET_KEY outside DEBUG.

    Not in settings.py: `migrate` (the migration task, which cannot read the workload's secrets),
    `collectstatic` (image build) and `clearsessions` never sign anything and run without it.
    """
    if not settings.DEBUG and not os.environ.get("SECRET_KEY"):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: store it in Vault (shared/django, key secret_key) and let "
            "`platformctl secrets exec` export it; only a laptop runs with DJANGO_DEBUG=1 instead"
        )

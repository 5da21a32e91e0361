"""The web process: `gunicorn config.wsgi` (settings for gunicorn itself: gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

from config.startup import require_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
require_secret_key()  # with preload_app, gunicorn exits here instead of serving unsigned sessions

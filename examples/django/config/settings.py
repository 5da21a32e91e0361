"""Settings from the environment only: the image is the same in every environment.

Who sets what (docs/django.md):
- `platformctl secrets exec` (the container's entrypoint) exports the workload's database login as
  DATABASE_URL, and SECRET_KEY from the application's Vault secret `shared/django`;
- the service stack's task definition (a web service only) sets PLATFORM_PUBLIC_HOSTS /
  PLATFORM_PUBLIC_ORIGINS (app/contracts/names.py): the service's `host_headers` plus the load
  balancer's DNS name, as hosts and as `https://` (with a certificate) or `http://` origins, and
  PLATFORM_HTTP_PORT (gunicorn.conf.py);
- the environment file (`[services.<name>] environment`) sets plain switches such as DJANGO_LOG_LEVEL.
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, Any]:
    """`postgresql://user:password@host:port/dbname?sslmode=require` -> a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    options = dict(parse_qsl(parts.query))
    options.setdefault("connect_timeout", "5")  # a health check must not hang on a lost database
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        # Reuse connections across requests, but check them first: a rotated or restarted database
        # drops them, and the next request must reconnect instead of failing.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"

# Empty is allowed here (migrate, collectstatic, clearsessions never sign anything); the web and
# worker processes refuse to start without it (config/startup.py).
SECRET_KEY = os.environ.get("SECRET_KEY", "") or ("debug-only-insecure-key" if DEBUG else "")

# --- behind the platform's load balancer --------------------------------------------------------
# Host names (ALB rules may use `*.example.com`; Django spells that `.example.com`).
ALLOWED_HOSTS = [("." + h[2:]) if h.startswith("*.") else h for h in env_list("PLATFORM_PUBLIC_HOSTS")]
if DEBUG:
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]"]
CSRF_TRUSTED_ORIGINS = env_list("PLATFORM_PUBLIC_ORIGINS")  # https://app.example.com, ...
# The ALB terminates TLS and says so in X-Forwarded-Proto; it overwrites any value a client sent,
# which is what makes trusting this header safe (never set it without such a proxy in front).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Secure cookies wherever clients come in over HTTPS (every origin https: a load balancer certificate).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and all(o.startswith("https://") for o in CSRF_TRUSTED_ORIGINS)
# The ALB redirects HTTP to HTTPS (with a certificate) before Django sees a request; HSTS is the
# team's call once every host name is HTTPS-only (DJANGO_HSTS_SECONDS, `check --deploy` W004).
SILENCED_SYSTEM_CHECKS = ["security.W008"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
HEALTH_CHECK_PATH = "/healthz"  # `[services.<name>] health_check_path` (default /healthz)

# DATABASE_URL is absent only where no database is needed (collectstatic at image build).
DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])} if "DATABASE_URL" in os.environ else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    "config.health.HealthCheckMiddleware",  # first: before anything validates the Host header
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # right after SecurityMiddleware (WhiteNoise docs)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- static files: collected into the image at build time, served by WhiteNoise ----------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names: far-future caching is safe, a new release gets new URLs.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- logs: stdout only; ECS ships them to CloudWatch (`platformctl logs`) -----------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}

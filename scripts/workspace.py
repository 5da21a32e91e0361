"""Where the project keeps machine-local files: declared in scripts/runtime/workspace.py, which the
platform-runtime package ships (its AppRole default needs it); this name stays for the full project."""

from scripts.runtime.workspace import PROJECT_ROOT, platform_home

__all__ = ["PROJECT_ROOT", "platform_home"]

"""Environment of the jsii kernel (the Node process cdktf runs in): the lazy provider index.

`modules/lazy_index_hook.js` is preloaded into the kernel with `NODE_OPTIONS=--require` so that the
provider package's index requires its 2,135 resource modules on first use instead of all at start.
The hook is keyed to the pinned package version and the SHA-256 of its index; on anything else the
kernel loads the original index. Its verdict comes back through a small report file, logged here at
debug level. Only the kernel's start sees these variables: they are restored right after, so
Terraform, the cdktf CLI or anything else this process starts later never inherits the hook.
Decision: docs/adr/0009-lazy-provider-bindings.md.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

HOOK = Path(__file__).with_name("lazy_index_hook.js")
PIN_VARIABLE = "PLATFORM_JSII_LAZY_INDEX"
REPORT_VARIABLE = "PLATFORM_JSII_LAZY_REPORT"
SWITCH = "PLATFORM_LAZY_BINDINGS"  # "off": neither side lazy; "python": only the Python bindings

_report: Path | None = None
_verdict: str | None = None


def node_hook_enabled() -> bool:
    return os.environ.get(SWITCH, "on") not in ("off", "python")


def python_lazy_enabled() -> bool:
    return os.environ.get(SWITCH, "on") != "off"


def node_options_with_hook(existing: str) -> str | None:
    """NODE_OPTIONS plus the preload of the hook; None if the path cannot be quoted safely."""
    hook = str(HOOK)
    if '"' in hook or "\\" in hook:
        return None
    return f'{existing} --require "{hook}"'.strip()


@contextlib.contextmanager
def kernel_environment(pin: str) -> Iterator[None]:
    """Wrap the statement that starts the jsii kernel (the first `import cdktf`/`constructs`)."""
    global _report
    if "constructs" in sys.modules or "cdktf" in sys.modules:  # the kernel runs already
        yield
        return
    options = node_options_with_hook(os.environ.get("NODE_OPTIONS", ""))
    if not node_hook_enabled() or options is None or not HOOK.is_file():
        reason = "disabled" if not node_hook_enabled() else f"hook unusable: {HOOK}"
        log.debug("jsii kernel: the provider index loads eagerly (%s)", reason)
        yield
        return
    fd, name = tempfile.mkstemp(prefix="platform-jsii-lazy-", suffix=".log")
    os.close(fd)
    _report = Path(name)
    atexit.register(_remove_report)
    saved = {key: os.environ.get(key) for key in ("NODE_OPTIONS", PIN_VARIABLE, REPORT_VARIABLE)}
    os.environ.update({"NODE_OPTIONS": options, PIN_VARIABLE: pin, REPORT_VARIABLE: name})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def take_report() -> str:
    """The hook's verdict once the provider assembly is loaded ('lazy …' / 'eager …'), logged once."""
    global _verdict
    if _verdict is None:
        text = ""
        if _report is not None:
            with contextlib.suppress(OSError):
                text = _report.read_text().strip()
            _remove_report()
            text = text or "eager: the lazy index hook did not see the provider index"
        _verdict = text or "eager: the kernel was started without the lazy index hook"
        log.debug("jsii kernel: %s", _verdict)
    return _verdict


def _remove_report() -> None:
    global _report
    if _report is not None:
        _report.unlink(missing_ok=True)
        _report = None

"""What runs inside the application containers: the `platform-runtime` package (runtime/setup.py).

This folder is the package's boundary: the build ships it whole, plus the bottom contract layer
(scripts/contracts.py, scripts/exitcodes.py: names and exit codes, importing nothing). Modules here
may import only the standard library, this folder, the contract layer and the runtime's declared
dependencies (runtime/pyproject.toml); tests/unit/scripts/test_runtime_package.py enforces it.
"""

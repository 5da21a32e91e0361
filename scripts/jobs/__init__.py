"""Scheduled jobs at run time (docs/adr/0025): `platformctl job exec` (the container's single-run
lock and timeout) and `platformctl job run` (one run now)."""

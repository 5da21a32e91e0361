#!/bin/sh
# The container's entrypoint: log in to Vault with the task's identity, export the secrets, exec "$@".
#
# VAULT_READ_PATHS (set by the task definition) names the task's database login (-> DATABASE_URL);
# APP_VAULT_PATHS (set in `[services.<name>] environment` of web and worker) adds the application's
# shared secrets, e.g. `shared/django` holding `secret_key` (-> SECRET_KEY). The migration task and
# jobs that never sign anything do not set it. Paths never contain spaces or commas (validated).
set -eu
args=""
for path in $(printf '%s' "${VAULT_READ_PATHS:-},${APP_VAULT_PATHS:-}" | tr ',' ' '); do
    args="$args --path $path"
done
# shellcheck disable=SC2086  # word splitting of $args is intended
exec platformctl secrets exec $args -- "$@"

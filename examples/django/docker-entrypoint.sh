#!/bin/sh
# The container's entrypoint: log in to Vault with the task's identity, export the secrets, exec "$@".
#
# `secrets exec` reads the paths of VAULT_READ_PATHS, which the task definition sets: the task's own
# database login (-> DATABASE_URL) and each secret its `read_paths` name, e.g. `shared/django`
# holding `secret_key` (-> SECRET_KEY). The migration task's names only its own login.
set -eu
exec platformctl secrets exec -- "$@"

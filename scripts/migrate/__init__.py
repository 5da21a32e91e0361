"""Migration gate: run a one-off database migration before a service update, then verify the rollout.

- `ecs_runner`: the migration as a one-off ECS Fargate task (the cloud environments).
- `local_runner`: the same semantics as a local subprocess against the local target's Postgres.
- `rollout`: after apply, prove the service's primary deployment runs the new task definition.
- `cli`: the `platformctl migrate` commands the Terraform gate (local-exec) and CI stages call.
"""

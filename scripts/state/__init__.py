"""Terraform state tools on S3 object versioning: list, show, diff and restore state versions.

Every stack's state lives at `s3://<env.state.bucket>/<env>/<stack>.tfstate` in a versioned
bucket, so every `terraform apply` leaves the previous state behind as a noncurrent version.
These modules turn that into a recovery procedure: find a good version, compare it with the
current one, and make it current again without ever deleting a version.
"""

from django.db import models


class Note(models.Model):
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Added by 0002 as nullable (expand): the running version writes notes without it during the
    # rolling deploy; the worker backfills old rows. Making it required is a later "contract" step.
    author = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.body[:40]

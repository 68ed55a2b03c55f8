"""Rows that are evidence once written: the ORM refuses to change or delete them (and migrations
add database triggers that refuse it too)."""

from typing import Any

from django.db import models


class ImmutableRecord(Exception):
    """Evidence is never changed or deleted once written."""


class WriteOnceModel(models.Model):
    """Inserted once, then never updated or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableRecord(f"{self._meta.verbose_name} #{self.pk} is immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord(f"{self._meta.verbose_name} #{self.pk} cannot be deleted")

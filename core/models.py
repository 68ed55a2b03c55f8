"""Teams: the unit that owns models and may edit them."""

from django.conf import settings
from django.db import models


class Team(models.Model):
    """A group of people who own models; only its members (or admins) edit those models."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_member(self, user: object) -> bool:
        user_id = getattr(user, "pk", None)
        return user_id is not None and self.members.filter(pk=user_id).exists()

"""Signals the registry sends inside its own transactions, so apps that build on it (governance)
can react atomically without the registry importing them."""

from django.dispatch import Signal

# Sent by registry.services.models.update_model after the change is saved, in its transaction:
# sender=RegisteredModel, model=<RegisteredModel>, changed={field: (before, after)}, by=<user>.
model_updated = Signal()

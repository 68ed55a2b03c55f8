"""Telling people and systems what happened: reviewer e-mails and signed webhooks."""

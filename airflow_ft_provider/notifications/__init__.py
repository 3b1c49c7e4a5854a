"""Notifiers: on-failure cancellation of fine-tuning jobs."""

"""Stages: what is made from photos after triage (thumbnails, web JPEGs, blurhashes, command
exports), the job queue and its runner."""

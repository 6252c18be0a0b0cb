"""Reviewers, their keys and the triage interface."""

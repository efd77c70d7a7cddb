"""Scheduled jobs: the APScheduler wiring, the job functions and the `scheduler`/`status` commands."""

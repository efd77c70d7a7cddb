"""The applications: the cycle, the job wrapper and the use cases the CLI, console and scheduler share."""

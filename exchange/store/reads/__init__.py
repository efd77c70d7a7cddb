"""The store's reads, one module per subject, each with one filter type the CLI, the console and the exports share."""

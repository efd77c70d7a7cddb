"""The `esat-exchange` command line: argument parsing and French output, one module per command group."""

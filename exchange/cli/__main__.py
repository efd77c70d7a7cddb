"""`python -m exchange.cli`: the command line."""

from exchange.cli.main import main

raise SystemExit(main())

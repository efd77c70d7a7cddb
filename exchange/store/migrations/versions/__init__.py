"""One module per schema revision, named NNNN_what.py with revision id NNNN_what (see docs/migrations.md)."""

"""The pure core: reading, rules, judging, reconciliation, comptes rendus — bytes and frames in, values out."""

"""Habilitations: the Habpps extract (import, snapshot), file reconciliation, and the Habtiers migration report."""

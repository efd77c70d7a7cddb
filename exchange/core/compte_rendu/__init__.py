"""The compte rendu: its summary, its forms (CSV, XML, text, JSON) and its HTML page."""

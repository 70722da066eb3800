"""Types, settings, errors and file helpers: the bottom layer, importing nothing else of convrec."""

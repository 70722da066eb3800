"""Catalogues (loaders, bring-your-own mapping, titles), dialogue readers and the model files."""

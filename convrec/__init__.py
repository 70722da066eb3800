"""convrec: an LLM-augmented conversational recommender that runs offline on a CPU.

Stages of a chat turn (see pipeline.py): parse -> filter -> retrieve + cf -> blend -> rerank.
Nothing heavy is imported here: importing convrec loads no model.
"""

__version__ = "0.1.0"

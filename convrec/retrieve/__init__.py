"""Encoders, the FAISS index, pictures, collaborative scorers, score blending, filters and `build-index`."""

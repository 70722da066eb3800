"""The Recommender (it only orchestrates the stages) and the conversation's state."""

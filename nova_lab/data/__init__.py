"""Step 01: the corpus, the Q&A set, the prompts every model sees, the Nova training files and the leakage check."""

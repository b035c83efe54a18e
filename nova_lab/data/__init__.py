"""Step 01: the corpus, the Q&A set, the Nova training files and the leakage check."""

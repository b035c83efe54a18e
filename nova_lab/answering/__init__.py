"""Step 04: prompts, and the four configurations answering the test questions offline."""

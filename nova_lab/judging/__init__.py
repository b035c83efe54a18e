"""Step 05: the judges, the panel, fabrication, and the checks of the judges (check set, graded set, agreement)."""

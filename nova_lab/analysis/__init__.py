"""Step 06: what each approach buys, in numbers, figures and words."""

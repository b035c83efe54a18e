"""Step 03: the offline stand-in models, their precision on this CPU, and LoRA fine-tuning."""

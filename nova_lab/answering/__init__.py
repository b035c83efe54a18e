"""Step 04: the four configurations answering the test questions offline, with latency one request at a time."""

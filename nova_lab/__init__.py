"""nova-lab: fine-tuning, RAG, or both — the Amazon Nova case study, reproducible offline."""

import os

# lance's Rust logger prints a deprecation warning on every hybrid query; keep errors only.
os.environ.setdefault("LANCEDB_LOG", "error")

__version__ = "0.1.0"

"""Step 02: chunking, embeddings, the offline knowledge base and how well it finds a question's source."""

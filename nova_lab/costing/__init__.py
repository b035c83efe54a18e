"""What the study costs on Amazon Bedrock, worked out offline: the dated price table, a Bedrock run's plan, the cost of owning each configuration."""

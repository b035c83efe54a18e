"""The Amazon Bedrock backend: each step's Bedrock side (uploads, knowledge base, customization, Converse answers and judges), and its chores (preflight, IAM, resources, teardown), through boto3."""

"""The Amazon Bedrock backend: plans, costs, resources and calls through boto3."""

"""The core every wing stands on: parameters, paths, artefacts, caches, records, results, the step and model
tables, the Bedrock model ids, the study's vocabulary and the registries that use it, and reading figures
back from executed notebooks. It imports no wing."""

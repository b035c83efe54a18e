"""The core every wing stands on: parameters, paths, artefacts, caches, records, results and the step and model tables. It imports no wing."""

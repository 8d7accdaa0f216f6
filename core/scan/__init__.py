"""Finding out what is on disk: ignore rules, hashing, surveys of folders, the reconciler."""

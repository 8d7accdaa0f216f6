"""What a file is and what it looks like: file kinds, metadata, previews."""

"""Where files go: a directory or an S3 bucket (tiles, exports)."""

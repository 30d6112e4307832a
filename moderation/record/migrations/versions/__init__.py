"""The record's schema versions, oldest first."""

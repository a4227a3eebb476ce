"""The learner's files: where they live, one atomic write and one lock, progress, notes
and trained weights."""

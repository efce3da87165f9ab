"""Infrastructure: the task queue, encryption at rest, database setup, mail, safe text and links."""

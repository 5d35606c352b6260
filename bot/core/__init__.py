"""Platform-neutral core: identification → fact card, species repository, quizzes.

Nothing in this package imports ``telegram`` or ``discord``.
"""

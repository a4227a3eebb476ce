"""Lessons as data: the file format and its checks, scenarios, live values, quizzes and
answers. No Textual here."""

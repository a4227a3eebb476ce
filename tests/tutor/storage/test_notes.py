"""Notes: one step's card appended to a Markdown file."""

from __future__ import annotations

import pytest

from tutor.storage.notes import (NoteCard, NotesError, QuizNote, append_note, card_markdown,
                                 default_notes_path, without_instructions)

CARD = NoteCard(step="decoder.layers.0.ff.relu", phase="backward", lesson="02-relu-layer",
                formula="y = max(x, 0)", derivative="∂y/∂x = 1 if x > 0 else 0",
                shapes="x (1, 2, 8) → y (1, 2, 8)",
                worked="∂L/∂x[0,0,1] = upstream × relu′(x)\n= 0.1036 × 1 = 0.1036",
                torch="y = torch.relu(x)", sentence="ReLU passes the gradient where x > 0.",
                timestamp="2025-01-02 03:04")


def test_card_markdown_has_every_part():
    text = card_markdown(CARD)
    assert text.startswith("## 02-relu-layer · backward · decoder.layers.0.ff.relu\n")
    assert "*2025-01-02 03:04*" in text
    assert "- **Formula:** `y = max(x, 0)`" in text
    assert "- **Local derivative:** `∂y/∂x = 1 if x > 0 else 0`" in text
    assert "- **Shapes:** `x (1, 2, 8) → y (1, 2, 8)`" in text
    assert "- **PyTorch:** `y = torch.relu(x)`" in text
    assert "```\n∂L/∂x[0,0,1] = upstream × relu′(x)\n= 0.1036 × 1 = 0.1036\n```" in text
    assert "> ReLU passes the gradient where x > 0." in text


def test_empty_fields_are_left_out_and_backticks_survive():
    text = card_markdown(NoteCard(step="loss", phase="forward", formula="a `b` c",
                                  worked="x ``` y", timestamp="t"))
    assert text.startswith("## forward · loss\n")
    assert "Shapes" not in text and "PyTorch" not in text and ">" not in text
    assert "``a `b` c``" in text
    assert "````\nx ``` y\n````" in text


def test_append_creates_parents_and_appends(tmp_path):
    path = tmp_path / "deep" / "er" / "notes.md"
    assert append_note(path, CARD) == path
    assert append_note(path, NoteCard(step="loss", phase="forward", timestamp="t")) == path
    text = path.read_text(encoding="utf-8")
    assert text.count("## ") == 2
    assert text.index("decoder.layers.0.ff.relu") < text.index("## forward · loss")
    assert "\n\n## forward · loss" in text


def test_default_path_is_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    assert default_notes_path() == tmp_path / "notes.md"
    assert append_note(None, CARD) == tmp_path / "notes.md"


def test_unwritable_paths_give_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotesError) as error:
        append_note(blocker / "notes.md", CARD)
    assert "cannot write notes to" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(NotesError, match="it is a folder"):
        append_note(tmp_path, CARD)


def test_lesson_text_is_kept_without_its_instructions_about_keys():
    text = """## The chain rule

Each op multiplies upstream by its local derivative. Press **b** to jump to the forward
step. The product is the downstream gradient.

- a list item stays
- select the panel (Tab) and nudge it

```python
loss.backward()

print(w.grad)
```

Try it yourself: press + to nudge w."""
    kept = without_instructions(text)
    assert kept == ("## The chain rule\n\nEach op multiplies upstream by its local derivative. "
                    "The product is the downstream gradient.\n\n- a list item stays\n\n"
                    "```python\nloss.backward()\n\nprint(w.grad)\n```")


def test_quizzes_answered_at_the_step_are_noted_with_the_learners_answers():
    card = NoteCard(step="update:w", phase="update", timestamp="t", quizzes=[
        QuizNote("w = 3, ∂L/∂w = 8, lr = 0.01. What is w after the step?", ["3.08", "2.92"],
                 "correct", "2.92", "3 − 0.01 × 8 = 2.92: against the gradient."),
        QuizNote("Which way?", [], "skipped", "b) down", "")])
    text = card_markdown(card)
    assert ("**Quiz.** w = 3, ∂L/∂w = 8, lr = 0.01. What is w after the step?\n\n"
            "- My answers: `3.08`, `2.92` (right)\n- Answer: `2.92`\n"
            "- Why: 3 − 0.01 × 8 = 2.92: against the gradient.") in text
    assert "**Quiz.** Which way?\n\n- Skipped\n- Answer: `b) down`\n" in text

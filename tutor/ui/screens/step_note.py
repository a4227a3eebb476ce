"""``m`` in the stepper: the step's card appended to the learner's notes file."""

from __future__ import annotations

from tutor.storage.notes import NoteCard, NotesError, append_note
from tutor.views.secret import WorkedLine, worked_text
from tutor.views.step import shape_text, worked_element


def note_step(screen) -> None:
    """Append the step ``screen`` (a ``StepperScreen``) shows to the notes, and say where:
    what its card shows (hidden what a waiting quiz asks), the torch line, the lesson's
    sentence and the quizzes answered here."""
    view = screen.view
    selection = screen.selection()
    timeline = screen.session.timeline
    worked = screen.concealment().worked(WorkedLine.of(worked_element(
        timeline, timeline.position, selection.slot.key if selection.slot else None,
        selection.index)))
    card = NoteCard(
        step=f"step {view.position + 1}/{view.total} {view.name}", phase=view.phase,
        formula=view.formula, derivative=view.derivative,
        shapes="   ".join(f"{name} {shape_text(shape)}" for name, shape in view.shapes),
        worked=worked_text(worked), torch=view.torch_line,
        lesson=screen.note_lesson(), sentence=screen.note_sentence(),
        quizzes=screen.note_quizzes())
    try:
        path = append_note(getattr(screen.app, "notes_path", None), card)
    except NotesError as error:
        screen.notify(str(error), severity="error", timeout=8, markup=False)
        return
    screen.notify(f"Noted in {path}", timeout=4, markup=False)

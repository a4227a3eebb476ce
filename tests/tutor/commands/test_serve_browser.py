"""`tutor serve` in a real browser: headless Chromium (Playwright, with the system's own
Chromium) opens the page, reads the tutor's screen, steps, answers a quiz, and closes tabs.

The screen is read from xterm.js's buffer (the page draws it on a canvas, so there is no
text in the DOM): a script that runs before the page's own keeps a reference to the
terminal textual-serve's page creates. Screenshots of each stage are written under the
test's tmp_path (or $TUTOR_TEST_ARTIFACTS) and their folder printed (pytest -s, or -rA).
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.tutor.commands.serving import WAIT, Served, alive, wait_until

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytest.importorskip("textual_serve", reason='textual-serve is not installed (the [web] extra)')


def chromium() -> str | None:
    """The system's Chromium: $TUTOR_CHROMIUM, else the first on PATH."""
    named = os.environ.get("TUTOR_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


pytestmark = [
    pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine "
                       "(Debian: apt-get install chromium; or set TUTOR_CHROMIUM)"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                       reason="counts processes through Linux's /proc"),
]

# Runs before textual-serve's script: the first xterm.js Terminal stored as `.terminal`
# (textual-serve's page does `this.terminal = new Terminal(...)`) is kept on window.
KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal",
                          {value, writable: true, configurable: true, enumerable: true});
    if (value && typeof value.loadAddon === "function" && !window.tutorTerminal)
      window.tutorTerminal = value;
  },
});
"""
SCREEN_TEXT = """() => {
  const terminal = window.tutorTerminal;
  if (!terminal) return "";
  const buffer = terminal.buffer.active, rows = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=chromium(), headless=True)
        except playwright_api.Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "no reason"
            pytest.skip(f"Chromium at {chromium()} does not start here: {first}")
        yield launched
        launched.close()


@pytest.fixture
def artifacts(tmp_path, request):
    folder = Path(os.environ.get("TUTOR_TEST_ARTIFACTS") or tmp_path) / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


class Tab:
    """One browser tab on the served tutor."""

    def __init__(self, browser, served: Served):
        self.page = browser.new_page(viewport={"width": 1280, "height": 720})
        self.page.add_init_script(KEEP_TERMINAL)
        # Only this machine: the page's web font is fetched from elsewhere; not here.
        self.page.route("**/*", lambda route: route.continue_()
                        if route.request.url.startswith(served.url) else route.abort())
        self.page.goto(served.url, wait_until="domcontentloaded")

    def screen(self) -> str:
        return self.page.evaluate(SCREEN_TEXT)

    def wait_for(self, pattern: str) -> re.Match:
        """Wait until the screen matches ``pattern``; the match."""
        found = []

        def matches():
            found[:] = [re.search(pattern, self.screen())]
            return found[0]

        try:
            return wait_until(matches, f"{pattern!r} on the page")
        except AssertionError:
            raise AssertionError(f"{pattern!r} never appeared; the page shows:\n"
                                 f"{self.screen()}") from None

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def shot(self, path: Path) -> bytes:
        return self.page.screenshot(path=str(path))


def dloss_derr() -> tuple[int, str]:
    """Lesson 1's quiz on ∂(err²)/∂err: its number on screen (its place in the lesson
    file) and its answer, 2·err with err = w·x + b − y, worked out here from the lesson's
    own numbers."""
    lesson = tomllib.loads((ROOT / "lessons" / "01-derivative.toml").read_text())
    ids = [quiz["id"] for quiz in lesson["quiz"]]
    assert "dloss-derr" in ids, "lesson 1 no longer has the quiz this test answers"
    assert lesson["quiz"][ids.index("dloss-derr")]["answer"] == "contribution(err)"
    program = lesson["scenario"]["program"]
    for line in ("wx = w * x", "pred = wx + b", "err = pred - y", "loss = err ** 2"):
        assert line in program, f"lesson 1's model changed: {line!r} is gone"
    v = lesson["scenario"]["inputs"]
    err = v["w"] * v["x"] + v["b"] - v["y"]
    return ids.index("dloss-derr") + 1, f"{2 * err:g}"


def click_text(tab: Tab, text: str) -> None:
    """Click the terminal cell where ``text`` first shows on the screen."""
    rows = tab.screen().split("\n")
    row = next(i for i, line in enumerate(rows) if text in line)
    column = rows[row].index(text)
    box = tab.page.locator(".xterm-screen").bounding_box()
    columns, lines = tab.page.evaluate("() => [tutorTerminal.cols, tutorTerminal.rows]")
    tab.page.mouse.click(box["x"] + (column + 0.5) * box["width"] / columns,
                         box["y"] + (row + 0.5) * box["height"] / lines)


QUIZ = r"Quiz (\d+)/\d+ · step"


def skip_quiz(tab: Tab) -> None:
    """A quiz this test does not answer: a hint (F2), then skip it (F3) and go on."""
    title = tab.wait_for(QUIZ)[0]
    tab.press("F2")
    tab.wait_for(r"hint 1:|No more hints")
    tab.press("F3")
    tab.wait_for(r"Skipped\. The answer is")
    tab.press("Enter")
    wait_until(lambda: title not in tab.screen(), f"{title!r} to close")


def test_a_lesson_in_the_browser_steps_answers_a_quiz_and_saves(browser, tmp_path, artifacts):
    from tutor.storage.progress import ProgressStore
    from tutor.ui.screens.quiz import HOW_TO_ANSWER

    home = tmp_path / "home"
    served = Served(home, "1")
    try:
        tab = Tab(browser, served)
        total = tab.wait_for(r"step 1/(\d+)")[1]
        assert "lesson 1" in tab.screen()
        before = tab.shot(artifacts / "1-first-frame.png")
        tab.page.locator(".xterm-helper-textarea").focus()
        tab.press("n")
        tab.wait_for(rf"step 2/{total}")
        after = tab.shot(artifacts / "2-after-n.png")
        assert after != before

        tab.press("?")  # help, and back
        tab.wait_for(r"\?\s+this help")
        tab.press("Escape")
        wait_until(lambda: not re.search(r"\?\s+this help", tab.screen()), "help to close")
        tab.press("m")  # this step's card into the notes, in the data directory
        wait_until(lambda: (home / "notes.md").is_file()
                   and "pred = wx + b" in (home / "notes.md").read_text(), "the note")
        click_text(tab, "err  sub")  # the tree: a click goes to that step
        tab.wait_for(rf"step 3/{total}")

        # On with n to the quiz on ∂(err²)/∂err; any other quiz on the way is skipped.
        number, answer = dloss_derr()
        for _ in range(2 * int(total)):
            screen = tab.screen()
            quiz = re.search(QUIZ, screen)
            if quiz and int(quiz[1]) == number:
                break
            if quiz:
                skip_quiz(tab)
                continue
            tab.press("n")
            wait_until(lambda: tab.screen() != screen, "the screen to change after n")
            if "quiz here" in tab.screen().split("\n", 1)[0]:
                tab.wait_for(QUIZ)  # it opens by itself where the cursor arrives
        else:
            raise AssertionError(f"quiz {number} never opened; the page shows:\n{tab.screen()}")
        tab.wait_for(re.escape(HOW_TO_ANSWER["number"]))  # the empty answer box
        tab.shot(artifacts / "3-quiz.png")

        # The answer box takes keys a moment after the quiz opens (until then they are
        # dropped): type until the answer shows in place of the box's placeholder.
        for _ in range(10):
            tab.page.keyboard.type(answer)
            try:
                wait_until(lambda: HOW_TO_ANSWER["number"] not in tab.screen(),
                           "the typed answer in the box", timeout=2)
                break
            except AssertionError:
                continue
        tab.press("Enter")
        screen = tab.wait_for(r"Right:|Try again|answer is").string
        tab.shot(artifacts / "4-answered.png")
        assert f"Right: {answer}" in screen, screen
        tab.press("Enter")  # close the quiz: its result is saved

        results = wait_until(
            lambda: ProgressStore(home).quiz_results("01-derivative").get("dloss-derr"),
            "the quiz result in progress.json")
        assert results["result"] == "correct" and results["attempts"] == 1
        tab.page.close()
        wait_until(lambda: served.tabs() == [], "the tab's tutor to end")
    finally:
        assert served.stop() == 0
    assert served.left == []


def test_two_tabs_two_tutors_none_left_after_closing(browser, tmp_path, artifacts):
    served = Served(tmp_path / "home")
    try:
        tabs = [Tab(browser, served) for _ in range(2)]
        for number, tab in enumerate(tabs, 1):
            tab.wait_for(r"What a derivative")  # the lesson list's first lesson
            tab.shot(artifacts / f"tab-{number}.png")
        tutors = wait_until(lambda: len(served.tabs()) == 2 and served.tabs(), "two tutors")
        for tab in tabs:
            tab.page.close()
        wait_until(lambda: served.tabs() == [], "both tutors to end")
        assert not any(alive(pid) for pid in tutors)
        assert served.process.poll() is None  # still serving
    finally:
        assert served.stop() == 0
    assert served.left == []

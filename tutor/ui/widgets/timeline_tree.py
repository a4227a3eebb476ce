"""The timeline tree: phases → scopes → ops, the cursor's unit highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine.timeline import ScopeNode, Timeline

PHASE_STYLE = {"forward": "cyan", "backward": "magenta", "update": "green"}


class TimelineTree(Tree[ScopeNode], can_focus=False):
    """Collapsible, clickable; selecting an op jumps the stepper to it. It never takes
    the keyboard: the keys step the cursor (and `g` finds a step by name)."""

    class StepChosen(Message):
        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("run", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self._by_path: dict[tuple, TreeNode[ScopeNode]] = {}
        self._current: TreeNode[ScopeNode] | None = None

    def build(self, timeline: Timeline) -> None:
        """Add the phases; a scope's children are added when it first opens (a run has
        hundreds of steps, and most scopes are never opened)."""
        self.clear()
        self._by_path = {}
        self._timeline = timeline
        for phase in timeline.scope_tree().children:
            self._add(self.root, phase)

    def _add(self, parent: TreeNode, scope: ScopeNode) -> TreeNode:
        label = Text(scope.label)
        if len(scope.path) == 1:
            label.stylize(f"bold {PHASE_STYLE.get(scope.label, '')}")
            label.append(f"  {scope.last - scope.first + 1} steps", style="dim")
        elif scope.is_step:
            label.append(f"  {self._timeline.steps[scope.first].op_name}", style="dim")
        if scope.is_step:
            node = parent.add_leaf(label, data=scope)
        else:
            node = parent.add(label, data=scope, allow_expand=True)
        self._by_path[scope.path] = node
        return node

    def _populate(self, node: TreeNode) -> None:
        scope = node.data
        if scope is not None and scope.children and not node.children:
            for child in scope.children:
                self._add(node, child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self._populate(event.node)

    def node_for(self, path: tuple) -> TreeNode | None:
        """The tree node of a scope or step, adding the scopes above it as needed."""
        for depth in range(1, len(path)):
            parent = self._by_path.get(path[:depth])
            if parent is None:
                return None
            self._populate(parent)
        return self._by_path.get(path)

    def show(self, unit_path: tuple) -> None:
        """Highlight the cursor's unit, opening the scopes above it."""
        node = self.node_for(unit_path)
        if node is None or node is self._current:
            return
        parent = node.parent
        while parent is not None and parent is not self.root:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        self._current = node
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if node._line >= 0 and top <= node._line < top + height:
            self.cursor_line = node._line  # in view: repaint two lines, no scroll pass
        else:
            self.move_cursor(node)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        scope = event.node.data
        if scope is None:
            return
        if scope.is_step:
            self.post_message(self.StepChosen(scope.first))
        else:
            self._populate(event.node)
            event.node.toggle()

"""Trees for recursive networks: ``Tree``, a node with children, an optional integer label and
a token, and ``Tree.parse`` for the Stanford Sentiment Treebank's bracketed format
(``(3 (2 good) (3 film))``). The models live in ``fastdl.nn.recursive``; the level schedule
and cells in ``fastdl.functional.recursive``."""
from __future__ import annotations

from .._args import is_int

__all__ = ["Tree"]


class Tree:
    """A tree node: ``children`` (list of Tree), optional integer ``label`` and ``token``."""

    __slots__ = ("children", "label", "token")

    def __init__(self, children=(), label=None, token=None):
        self.children = list(children)
        for c in self.children:
            if not isinstance(c, Tree):
                raise TypeError(f"Tree: children must be Tree instances, got {type(c).__name__}")
        if label is not None and not is_int(label):
            raise TypeError(f"Tree: label must be an int or None, got {label!r}")
        self.label = None if label is None else int(label)
        self.token = token

    @property
    def is_leaf(self):
        """True for a node without children (a token)."""
        return not self.children

    def postorder(self):
        """All nodes, children before parents, left to right (iterative: deep trees are fine).
        A node reached twice raises ValueError: a cycle (a node among its own descendants)
        or a shared subtree (one node under two parents), which the models cannot compute."""
        out, stack = [], [(self, False)]
        state = {}  # id -> False while the node's subtree is open, True once it is finished
        while stack:
            node, done = stack.pop()
            if done:
                state[id(node)] = True
                out.append(node)
                continue
            seen = state.get(id(node))
            if seen is not None:
                what = "a shared subtree: it has two parents" if seen else "a cycle: it is its own descendant"
                raise ValueError(f"Tree: {node._name(len(out))} is reached twice: {what} (copy the subtree "
                                 "or break the cycle)")
            state[id(node)] = False
            stack.append((node, True))
            for c in reversed(node.children):
                stack.append((c, False))
        return out

    def _name(self, position):
        """A short description of this node that never walks the tree (safe on cycles)."""
        what = f"leaf {self.token!r}" if self.is_leaf else f"node with {len(self.children)} children"
        lab = "" if self.label is None else f", label {self.label}"
        return f"{what}{lab} (after {position} nodes in post-order)"

    def leaves(self):
        """Leaf nodes, left to right."""
        return [n for n in self.postorder() if n.is_leaf]

    def words(self):
        """The tokens of the leaves, left to right."""
        return [n.token for n in self.leaves()]

    def depth(self):
        """Edges on the longest root-to-leaf path (a single leaf has depth 0)."""
        h = {}
        for n in self.postorder():
            h[id(n)] = 0 if n.is_leaf else 1 + max(h[id(c)] for c in n.children)
        return h[id(self)]

    def __len__(self):
        return len(self.postorder())

    def __str__(self):
        self.postorder()  # raises on cycles and shared subtrees
        parts, stack = [], [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                parts.append(")")
                continue
            lab = "" if node.label is None else str(node.label)
            if node.is_leaf:
                parts.append(f"({lab} {node.token})" if lab else f"({node.token})")
                continue
            parts.append("(" + lab)
            stack.append((node, True))
            for c in reversed(node.children):
                stack.append((c, False))
        out = []
        for p in parts:  # a space before each child
            out.append(p if p == ")" or not out else " " + p)
        return "".join(out)

    def __repr__(self):
        return f"Tree({str(self)!r})"

    @classmethod
    def parse(cls, s):
        """Parse the bracketed Stanford Sentiment Treebank format, e.g.
        ``(3 (2 not) (4 (3 very) (4 good)))``: every node is ``(label word)`` (a leaf) or
        ``(label child child ...)``; labels are integers. Raises ValueError naming the problem
        and its position for malformed strings."""
        if not isinstance(s, str):
            raise TypeError(f"Tree.parse: expected a str, got {type(s).__name__}")
        toks = []  # (kind, text, position)
        i, n = 0, len(s)
        while i < n:
            ch = s[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                toks.append((ch, ch, i))
                i += 1
            else:
                j = i
                while j < n and not s[j].isspace() and s[j] not in "()":
                    j += 1
                toks.append(("w", s[i:j], i))
                i = j
        if not toks:
            raise ValueError("Tree.parse: empty string")
        if toks[0][0] != "(":
            raise ValueError(f"Tree.parse: expected '(' at position {toks[0][2]}, got {toks[0][1]!r}")
        stack = []  # open nodes: [label, children, word, position]
        root = None
        k = 0
        while k < len(toks):
            kind, text, pos = toks[k]
            if root is not None:
                if kind == ")":
                    raise ValueError(f"Tree.parse: unbalanced ')' at position {pos}")
                raise ValueError(f"Tree.parse: trailing text {text!r} at position {pos} after the closing ')'")
            if kind == "(":
                if k + 1 >= len(toks) or toks[k + 1][0] != "w":
                    got = "end of string" if k + 1 >= len(toks) else repr(toks[k + 1][1])
                    raise ValueError(f"Tree.parse: missing label after '(' at position {pos} (got {got})")
                lab_text = toks[k + 1][1]
                try:
                    label = int(lab_text)
                except ValueError:
                    raise ValueError(f"Tree.parse: label {lab_text!r} at position {toks[k + 1][2]} is not an "
                                     "integer") from None
                stack.append([label, [], None, pos])
                k += 2
                continue
            if kind == "w":
                if not stack:
                    raise ValueError(f"Tree.parse: word {text!r} at position {pos} outside brackets")
                top = stack[-1]
                if top[1] or top[2] is not None:
                    raise ValueError(f"Tree.parse: unexpected word {text!r} at position {pos}: a node holds "
                                     "either one word or child nodes")
                top[2] = text
                k += 1
                continue
            # ')'
            if not stack:
                raise ValueError(f"Tree.parse: unbalanced ')' at position {pos}")
            label, children, word, opos = stack.pop()
            if word is None and not children:
                raise ValueError(f"Tree.parse: node opened at position {opos} has neither a word nor children")
            node = cls(children, label=label, token=word)
            if stack:
                if stack[-1][2] is not None:
                    raise ValueError(f"Tree.parse: node at position {opos} follows a word in the same node")
                stack[-1][1].append(node)
            else:
                root = node
            k += 1
        if stack:
            raise ValueError(f"Tree.parse: unbalanced parentheses: {len(stack)} node(s) not closed "
                             f"(opened at position {stack[-1][3]})")
        return root


# ================================================================================= TreeBatch

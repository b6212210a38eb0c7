"""Show the code that runs: the labs display labkit's own source of a lesson (a ``build(hp)``, a
``train_step``) instead of a retyped copy that could drift from what actually executes."""
from __future__ import annotations

import inspect
import textwrap


def source(*objects, title: str | None = None):
    """Display the source of functions/methods/classes as one highlighted code block (IPython),
    with the file and line each comes from; returns the text (plain ``print`` outside IPython)."""
    parts = []
    for obj in objects:
        lines, start = inspect.getsourcelines(obj)
        path = inspect.getsourcefile(obj) or "?"
        rel = path.split("/labkit/", 1)[-1] if "/labkit/" in path else path
        parts.append(f"# labkit/{rel}, line {start}\n" + textwrap.dedent("".join(lines)).rstrip())
    text = "\n\n".join(parts)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
        if get_ipython() is not None:
            display(Markdown((f"**{title}**\n\n" if title else "") + f"```python\n{text}\n```"))
            return None
    except ImportError:
        pass
    print(text)
    return None

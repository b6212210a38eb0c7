"""Course tooling: the headless runner's report."""

def test_runner_reports_noise():
    import nbformat
    from labkit.course.runner import noise
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x"), nbformat.v4.new_code_cell("y"), nbformat.v4.new_markdown_cell("z")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.99\n"),
                           nbformat.v4.new_output("stream", name="stderr", text="2026 I tensorflow ...\n")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="ok\nWARNING:tensorflow:5 out of the last 19 calls\n")]
    found = noise(nb)
    assert [(n["cell"], n["kind"]) for n in found] == [(0, "stderr"), (1, "warning")]
    assert found[1]["text"].startswith("WARNING:tensorflow")

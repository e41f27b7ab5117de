"""The pre-trade gate (docs/gate.md): does the book still pass after a proposed trade list?

trades.py   load and validate trade lists (the snapshot reader and validator, reused)
project.py  apply the trades to the book: increase, reduce, close, flip, open
diff.py     pre- vs post-trade findings: new, worsened, unchanged, resolved; the trades behind each
run.py      the pipeline (run_gate -> GateResult); the only module that calls the engine
sarif.py, junit.py, github.py, markdown.py, document.py, text.py   the outputs, from a GateResult
"""

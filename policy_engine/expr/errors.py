"""The one error of the expression language: what is wrong, and where in the text.

An ``ExprError`` is raised while reading a policy, never while evaluating one: every expression is
parsed and type-checked up front, so a bad expression stops the run before any data is read.
"""

from __future__ import annotations


class ExprError(Exception):
    """A policy expression that cannot be parsed, type-checked or compiled.

    ``offset`` is the 0-based character offset of the offending token in the expression text;
    ``message`` says what is wrong and what is allowed, without the location, so the validate stage
    can place it in a YAML file (line and column of the expression plus ``offset``).
    """

    def __init__(self, problem: str, offset: int, hint: str = "") -> None:
        # Passing every constructor argument to Exception keeps the error picklable (multiprocessing).
        super().__init__(problem, offset, hint)
        self.problem = problem
        self.offset = offset
        self.hint = hint
        self.message = f"{problem}: {hint}" if hint else problem

    @property
    def column(self) -> int:
        """1-based column in the expression text, as an editor shows it."""
        return self.offset + 1

    def __str__(self) -> str:
        where = f"{self.problem} at column {self.column}"
        return f"{where}: {self.hint}" if self.hint else where

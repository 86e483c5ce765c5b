"""Errors that reach the user as one line and exit code 2 (exit codes: 0 ok, 2 bad input, 1 internal error)."""


class UserError(Exception):
    """Bad input from the user: a flag, a file, a value. Printed as one line; the CLI exits 2."""

    exit_code = 2


class DataError(UserError):
    """A dataset file that breaks the v1 contract. The message names the file and, where known, the column."""

    def __init__(self, path: str, message: str, column: str | None = None):
        self.path = path
        self.column = column
        where = f"{path}: column '{column}'" if column else path
        super().__init__(f"{where}: {message}")

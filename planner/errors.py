"""One exception type for everything the user can fix. The CLI turns it into one line on stderr and exit 2."""


class PlannerError(Exception):
    """A user-facing error: bad input, infeasible request, missing file. Message is one line, no traceback."""

    exit_code = 2

"""What every command raises for a mistake the user can fix."""


class UsageError(Exception):
    """Something the user can fix; printed as one line, exit status 2."""

"""The user-facing error family: each is turned into one line and exit status 1 by the CLI."""


class UserError(Exception):
    """Something the user can fix; the message is printed as is, without a traceback."""


class ConfigError(UserError):
    """The configuration file is wrong; the message lists every problem."""

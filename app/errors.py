"""The errors the core raises for the API and CLI to translate."""


class SchedulerError(Exception):
    """Base of this project's errors."""


class InvalidJob(SchedulerError, ValueError):
    """A job definition or query the API refuses; str(error) is the client's message."""


class JobNotFound(SchedulerError, LookupError):
    """No job (or execution) has the id asked for."""


class Conflict(SchedulerError):
    """The request does not fit the state of what it acts on; str(error) says why."""


class JobBusy(Conflict):
    """The job is executing; the request would run it twice at once."""


class PreconditionFailed(SchedulerError):
    """The job is not as the client's If-Match or If-None-Match says; str(error) says how."""

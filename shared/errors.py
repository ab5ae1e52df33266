"""Domain errors. Domain code raises these; the runtime turns them into reply statuses."""


class HbError(Exception):
    status = 500

    def __init__(self, msg: str, status: int | None = None):
        super().__init__(msg)
        self.msg = msg
        if status is not None:
            self.status = status

    def __reduce__(self):  # keep the status across process boundaries (worker pools)
        return (_rebuild, (type(self), self.msg, self.status))


def _rebuild(cls, msg, status):
    err = cls.__new__(cls)
    HbError.__init__(err, msg, status)
    return err


class BadRequest(HbError):
    status = 400


class NotFound(HbError):
    status = 404


class Conflict(HbError):
    status = 409


class Invalid(HbError):
    status = 422


class Unavailable(HbError):
    status = 503


class TimedOut(HbError):
    status = 504

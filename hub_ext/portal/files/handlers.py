"""Routes of this feature (issue 12): filled in as it is built."""

handlers: list = []

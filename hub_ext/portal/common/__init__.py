"""What every portal feature builds on: the page and API bases and the one error path (``base``), ids
from URLs and forms (``ids``), the log-streaming handler (``logstream``), the members' API base
(``member``) and the hub's calls to the runner (``runner``)."""

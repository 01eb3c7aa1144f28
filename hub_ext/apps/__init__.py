"""Apps: third-party applications installed into a group (issue 13): templates, store, runner side."""

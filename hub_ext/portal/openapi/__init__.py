"""The OpenAPI document of the portal REST API (``spec``) and the route serving it."""

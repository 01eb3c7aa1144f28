"""Recent activities: the home panel and GET /hub/api/portal/me/activities."""

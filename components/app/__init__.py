"""The application (`payment:app:*`): the catalog's services and the demo stand-in they run until real images exist."""

"""Authentication: turning a request's credentials into a `Principal`."""

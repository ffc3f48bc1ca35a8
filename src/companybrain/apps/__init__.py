"""Apps (apps/*.yaml): worklists people open in the cockpit and the API, read as the viewer."""

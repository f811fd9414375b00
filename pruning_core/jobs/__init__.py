"""Jobs: the store that connects runs to the app, and the worker that runs queued jobs."""
